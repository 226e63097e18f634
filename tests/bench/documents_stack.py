"""The processes of the documents benchmark and what is read from them.

- `EmulatorProcess`: `python -m gateway.emulator` (chat upstream and `/v1/embeddings`), on the load core.
- `start_gateway`: the gateway (`procs.Server("gateway")`, i.e. `gateway.cli.main` with `--backend
  engine`) on the proxy core, its database and embeddings endpoint from the environment.
- `postgres()`: a throwaway PostgreSQL server from `tests/postgres.py`, its processes pinned to the
  proxy core (on SQLite the database works inside the gateway process, on that core too). The main
  bench's `engine-pg*` targets use it too (targets.py).
- `Peak`: a process's peak RSS over a span (the kernel's VmHWM, reset at the start through
  `/proc/<pid>/clear_refs`, and VmRSS sampled every 10 ms as a cross-check and fallback).
- `chunk_count`: chunks stored for a vector store, read from the database itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg  # type: ignore[import-untyped]
import httpx

from tests.bench.proc_stats import children, rss_kb
from tests.bench.procs import LOAD_CORE, PROXY_CORE, ROOT, Server, free_port

if TYPE_CHECKING:
    from tests.postgres import PgServer

EMBEDDINGS_KEY = "k"
CLIENT_KEY = "sk-bench-documents"


def _pinned(core: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *cmd] if core < (os.cpu_count() or 1) else cmd


class EmulatorProcess(Server):
    """The MiniMax emulator as its own process (its `/v1/embeddings` serves the hybrid search)."""

    def __init__(self, log_dir: Path) -> None:  # Server's start-up, with another command
        self.kind = "emulator"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "gateway.emulator", "--port", str(self.port), "--log-level", "warning"]
        self.log_path = log_dir / f"bench-emulator-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(
            _pinned(LOAD_CORE, cmd),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
        self.pid = self.proc.pid
        self.started = time.monotonic()
        self._wait_ready()


def start_gateway(emulator: str, database_url: str, log_dir: Path, *, embeddings: bool, name: str) -> Server:
    """A gateway process over `database_url`, migrated on start, ready to serve the documents API."""
    env = {
        "BENCH_BACKEND": "engine",
        "DATABASE_URL": database_url,
        "MIGRATE_ON_START": "true",
        "EMBEDDINGS_URL": f"{emulator}/v1" if embeddings else "",
        "EMBEDDINGS_API_KEY": EMBEDDINGS_KEY,
    }
    server = Server("gateway", PROXY_CORE, upstream=emulator, log_dir=log_dir, env=env, name=name)
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # listening may come before the store is open
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/v1/vector_stores", headers=headers, timeout=5).status_code == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the gateway did not answer within 60 s; see {server.log_path}")


# ---- PostgreSQL ----------------------------------------------------------------------------------


class Postgres:
    def __init__(self, server: PgServer, postmaster: int) -> None:
        self.server = server
        self.postmaster = postmaster
        self._count = 0

    def fresh_database(self) -> str:
        """An empty database (the gateway migrates it on start)."""
        from tests.postgres import create_db  # imports pytest: only when PostgreSQL is wanted

        self._count += 1
        name = f"bench_documents_{self._count}"
        asyncio.run(create_db(self.server, name))
        return self.server.url(name)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A throwaway server (`tests/postgres.py`: Debian's binaries, fsync off), pinned to the proxy core."""
    from tests.postgres import pg_server

    with contextlib.contextmanager(pg_server)() as server:
        pid_file = server.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        for pid in [postmaster, *children(postmaster)]:
            subprocess.run(
                ["taskset", "-a", "-p", "-c", str(PROXY_CORE), str(pid)], check=True, capture_output=True
            )
        yield Postgres(server, postmaster)


# ---- the database, read directly ------------------------------------------------------------------


def chunk_count(database_url: str, store_id: str) -> int:
    query = "SELECT count(*) FROM vector_store_chunks WHERE vector_store_id = "
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            return int(conn.execute(query + "?", (store_id,)).fetchone()[0])

    async def read() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval(query + "$1", store_id))
        finally:
            await conn.close()

    return asyncio.run(read())


# ---- peak RSS --------------------------------------------------------------------------------------


def _hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1])
    return 0


class Peak:
    """`with Peak(pid) as peak:` ... then `peak.kb`: the highest RSS of `pid` inside the block,
    `peak.base_kb` the RSS at its start."""

    def __init__(self, pid: int, every: float = 0.01) -> None:
        self.pid = pid
        self.every = every
        self.base_kb = 0
        self.kb = 0
        self._reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Peak:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self._reset = True
        except OSError:
            self._reset = False
        self.base_kb = rss_kb(self.pid)
        self.kb = self.base_kb
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(OSError):
                self.kb = max(self.kb, rss_kb(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.kb = max(self.kb, rss_kb(self.pid))
        if self._reset:
            self.kb = max(self.kb, _hwm_kb(self.pid))
