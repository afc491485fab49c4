"""Fixtures of the attack tests, defined once in the integration environments."""

from tests.integration.sealed_env import network_off, sealed  # noqa: F401 - registers the fixtures
