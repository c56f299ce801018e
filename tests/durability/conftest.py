"""The durability suite runs on both backends, with the backend suite's fixtures."""

from tests.backends.conftest import backend, postgres_db, postgres_server, raw  # noqa: F401
