"""Fixtures shared by the integration tests. A session fixture must be defined once, here:
imported into several test modules it would be a separate fixture in each (and, for the
gateway stack, admit the same organisations on chain twice)."""

from tests.integration.gateway_env import gateway_stack  # noqa: F401 - registers the fixture
from tests.integration.sealed_env import network_off, sealed  # noqa: F401 - registers the fixtures
from tests.integration.traceability_env import client_for, trace_stack  # noqa: F401
