"""DATABASE_URL's forms: schemes to async drivers, libpq's TLS options as asyncpg takes them."""

from __future__ import annotations

import pytest

from gateway.engine.store.url import driver_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///gateway.db", "sqlite+pysqlite:///gateway.db"),
        ("postgresql://u:p@db:5432/gw", "postgresql+asyncpg://u:p@db:5432/gw"),
        ("postgres://u@db/gw?sslmode=require", "postgresql+asyncpg://u@db/gw?ssl=require"),
        (
            "postgresql://u@db/gw?application_name=gw&sslmode=verify-full",
            "postgresql+asyncpg://u@db/gw?application_name=gw&ssl=verify-full",
        ),
    ],
)
def test_forms(given: str, expected: str) -> None:
    assert driver_url(given) == expected


@pytest.mark.parametrize("url", ["mysql://db/gw", "gateway.db", "postgresql://u@db/gw?sslrootcert=/ca.pem"])
def test_what_cannot_be_used_is_refused_naming_the_fix(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:/// or postgresql://|PGSSLROOTCERT"):
        driver_url(url)
