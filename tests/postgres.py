"""A throwaway PostgreSQL server for a test session, from Debian's `postgresql` package.

The server's directory is a `tempfile.mkdtemp` rather than `tmp_path_factory`: pytest's base temp dir is
private to root (0700), and the server must run as an unprivileged user who can reach its data directory.
Missing binaries fail the tests that need the server (CI installs them); they never skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from gateway.engine.store import migrate


def _pg_bin() -> Path:
    """$PG_BIN, else the newest server Debian's `postgresql` package installed."""
    if "PG_BIN" in os.environ:
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


@dataclass
class PgServer:
    host: str
    port: int
    template: str  # a database migrated to head, copied per test
    data: Path = Path()  # its data directory
    options: str = ""  # the server's command-line options

    def stop(self) -> None:
        """Stop the server at once: every connection drops, as in a crash."""
        _pg_ctl("-D", str(self.data), "-m", "immediate", "stop")

    def start(self) -> None:
        _pg_ctl("-D", str(self.data), "-o", self.options, "-l", str(self.data.parent / "log"), "-w", "start")

    def url(self, db: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{db}"

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{db}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


def _pg_ctl(*args: str) -> None:
    subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), *args), check=True, capture_output=True)


def pg_server() -> Iterator[PgServer]:
    """Start a server (fsync off), with a migrated template database; stop and remove it after."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            pytest.fail(
                f"PostgreSQL binaries missing: {PG_BIN / tool} (apt-get install postgresql, or set PG_BIN)"
            )
    base = Path(tempfile.mkdtemp(prefix="store-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ),
        check=True,
        capture_output=True,
    )
    opts = f"-k {base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    server = PgServer("127.0.0.1", port, "store_template", data, opts)
    server.start()
    try:
        in_thread(create_db(server, server.template))
        in_thread(migrate(server.url(server.template)))
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def in_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on its own loop (the fixture may be set up inside a running one)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


async def create_db(server: PgServer, name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(server.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


_counter = iter(range(1, 1_000_000))


async def fresh_pg_db(server: PgServer, *, migrated: bool) -> str:
    """A new database: a copy of the migrated template, or empty."""
    name = f"t{next(_counter)}_{os.getpid()}"
    await create_db(server, name, server.template if migrated else None)
    return server.url(name)
