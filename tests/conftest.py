"""Fixtures every test package may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PgServer]:
    """A PostgreSQL server for the whole session (started on first use, stopped at the end)."""
    yield from postgres.pg_server()
