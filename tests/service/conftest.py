"""Fixtures shared by the service tests."""

import pytest


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test database, named to the CLI the only way it reads one: DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url
