"""Attacks on the running system, one file per class; each test names the attack it stops."""
