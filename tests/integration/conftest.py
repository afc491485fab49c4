"""The integration fixtures are registered in tests/conftest.py, so that tests/attacks shares
the very same session fixtures (a session fixture imported into two conftest files would be two
fixtures and, for the gateway stack, admit the same organisations on chain twice)."""
