"""Fixtures every test package may use, and the markers that sort the suite for a quick inner loop.

Markers are given by where a test is and what it needs, so no test has to remember them:
`e2e` (real SDKs or gateway processes over loopback: tests/e2e, tests/replicas), `postgres` (a test that
uses the PostgreSQL server, by fixture or as its `postgresql` parameter), `slow` (fuzzing, deploy/
checks, processes killed and restarted). `pytest -m "not e2e and not postgres and not slow"` is the quick run
(CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PgServer]:
    """A PostgreSQL server for the whole session (started on first use, stopped at the end)."""
    yield from postgres.pg_server()


_E2E = ("e2e", "replicas")
_SLOW = ("fuzz", "replicas", "deploy", "test_recovery_processes.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts
        if parts[0] in _E2E:
            item.add_marker(pytest.mark.e2e)
        if any(part in _SLOW for part in parts):
            item.add_marker(pytest.mark.slow)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "pg_server" in getattr(item, "fixturenames", ()) or "postgresql" in params.values():
            item.add_marker(pytest.mark.postgres)
