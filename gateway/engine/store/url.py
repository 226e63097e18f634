"""`DATABASE_URL` (`sqlite:///PATH`, `postgresql://…`) -> the SQLAlchemy URL of the driver the store uses:
pysqlite (run on the store's own threads, see `db.py`) or asyncpg."""

from __future__ import annotations

_SCHEMES = {
    "sqlite": "sqlite+pysqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "sqlite+aiosqlite": "sqlite+pysqlite",  # accepted: earlier releases documented it
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


# libpq's TLS options, as asyncpg takes them (SQLAlchemy passes the query to asyncpg as arguments).
_LIBPQ_ONLY = ("sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword")


def driver_url(url: str) -> str:
    """Map the scheme to its driver; anything else is a configuration error (ValueError).
    `sslmode=` (what most PostgreSQL providers print) becomes asyncpg's `ssl=`; libpq's certificate
    file options are refused with what to use instead (the PGSSL* environment variables)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")
    target = _SCHEMES[scheme]
    if target.startswith("postgresql") and "?" in rest:
        path, _, query = rest.partition("?")
        params = []
        for part in query.split("&"):
            name = part.partition("=")[0]
            if name in _LIBPQ_ONLY:
                raise ValueError(
                    f"{name}= is libpq's: put ssl=verify-full (or require) in the URL and the file's "
                    f"path in the environment variable PG{name.upper()}"
                )
            params.append("ssl" + part[len("sslmode") :] if name == "sslmode" else part)
        rest = f"{path}?{'&'.join(params)}"
    return f"{target}://{rest}"


def is_sqlite(url: str) -> bool:
    return driver_url(url).startswith("sqlite")
