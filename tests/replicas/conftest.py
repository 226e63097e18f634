"""Two gateway processes (engine) on one PostgreSQL database, in front of one emulator."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.emulator import EmulatorConfig, create_emulator_app
from gateway.loopback import ServerThread
from tests.postgres import PgServer, fresh_pg_db, in_thread

LEASE_SECONDS = 1.0
SWEEP_INTERVAL = 0.2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Replica:
    """One `python -m gateway` process; `url` is its `/v1` base."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Replica:
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.name} exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not become ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@dataclass
class Cluster:
    a: Replica
    b: Replica
    emulator: Any  # the emulator's per-app context (`chat_requests`, `chat_stream_ends`, ...)
    database_url: str
    server: PgServer

    def replica(self, name: str, log_dir: Path) -> Replica:
        """Another replica on the same database (not started)."""
        return Replica(name, dict(self.a.env), log_dir / f"{name}.log")


@pytest.fixture
def cluster(pg_server: PgServer, tmp_path: Path) -> Iterator[Cluster]:
    """Replicas A and B, migrated once by `minimax-gateway migrate` as a deployment would."""
    database_url = _empty_database(pg_server)
    app = create_emulator_app(EmulatorConfig(chars_per_chunk=2))
    with ServerThread(app) as upstream:
        env = {
            **os.environ,
            "BACKEND": "engine",
            "DATABASE_URL": database_url,
            "MIGRATE_ON_START": "false",
            "MINIMAX_BASE_URL": upstream.url,
            "LEASE_SECONDS": str(LEASE_SECONDS),
            "SWEEP_INTERVAL": str(SWEEP_INTERVAL),
            "CHECKPOINT_INTERVAL": "0.05",
            "LOG_FORMAT": "json",
            "KEEPALIVE_INTERVAL": "0",
            "DRAIN_SECONDS": "1",
            "READY_CHECK_INTERVAL": "0.2",
        }
        migrated = subprocess.run(
            [sys.executable, "-m", "gateway", "migrate"], env=env, capture_output=True, text=True, timeout=60
        )
        assert migrated.returncode == 0, migrated.stderr
        a = Replica("a", env, tmp_path / "a.log")
        b = Replica("b", env, tmp_path / "b.log")
        try:
            a.start()
            b.start()
            yield Cluster(a, b, app.state.emulator, database_url, pg_server)
        finally:
            for replica in (a, b):
                replica.stop()


def _empty_database(server: PgServer) -> str:
    made: list[str] = []

    async def make() -> None:
        made.append(await fresh_pg_db(server, migrated=False))

    in_thread(make())
    return made[0]
