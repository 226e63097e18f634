"""`DATABASE_URL` (`sqlite:///PATH`, `postgresql://…`) -> the async SQLAlchemy URL for it."""

from __future__ import annotations

_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """Map the scheme to its async driver; anything else is a configuration error (ValueError)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")
    return f"{_SCHEMES[scheme]}://{rest}"


def is_sqlite(url: str) -> bool:
    return async_url(url).startswith("sqlite")
