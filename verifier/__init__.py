"""Zhenzhi verifier: trust-minimised scan verification against the chain. Never imports gateway."""
