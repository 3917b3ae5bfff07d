"""Fixtures shared by the unit tests."""

from tests.client_fakes import env  # noqa: F401 -- the SDK tests' fixture
