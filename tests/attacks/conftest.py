"""Fixtures of the attack tests, registered once here (a fixture imported into several modules
would be a separate fixture in each)."""

from tests.attacks.speakers_env import speakers  # noqa: F401 - registers the fixture
