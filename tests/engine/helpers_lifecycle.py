"""Stand up the engine for lifecycle tests: an emulator and gateways (threads or real processes) on one
SQLite file over loopback HTTP, a streamed run read in the background, and polling helpers."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.state import Context
from gateway.loopback import ServerThread
from gateway.settings import Settings
from tests.stream_checks import parse_sse

MODEL = "MiniMax-M2.7"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
T = TypeVar("T")


@dataclass
class Emulator:
    url: str
    ctx: Context

    def ends_of(self, index: int) -> list[str]:
        return [end for i, end in list(self.ctx.chat_stream_ends) if i == index]


@contextmanager
def emulator(config: EmulatorConfig | None = None) -> Iterator[Emulator]:
    app = create_emulator_app(config or EmulatorConfig())
    with ServerThread(app) as server:
        yield Emulator(server.url, app.state.emulator)


@contextmanager
def gateway(upstream: str, db: Path, **settings: Any) -> Iterator[str]:
    """A gateway app (engine, `db`) on a loopback port; yields its base URL (`.../v1`)."""
    options: dict[str, Any] = {"sweep_interval": 0.1, "lease_seconds": 1, "keepalive_interval": 0}
    options.update(settings)
    app = create_app(
        Settings(backend="engine", minimax_base_url=upstream, database_url=f"sqlite:///{db}", **options)
    )
    with ServerThread(app) as server:
        yield server.url + "/v1"


@dataclass
class Stack:
    url: str
    emu: Emulator
    db: Path

    def sdk(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=30)

    def http(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=auth(key), timeout=30)


@contextmanager
def stack(tmp_path: Path, config: EmulatorConfig | None = None, **settings: Any) -> Iterator[Stack]:
    db = tmp_path / "engine.db"
    with emulator(config) as emu, gateway(emu.url, db, **settings) as url:
        yield Stack(url, emu, db)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}


def paced(text: str, ms: int) -> str:
    """User text whose reply the emulator sends one chunk every `ms` milliseconds."""
    return f"{text} [[fault:pace:{ms}]]"


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, every: float = 0.02) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s (last: {value!r})")
        time.sleep(every)


def run_status(client: httpx.Client, thread_id: str, run_id: str) -> str:
    response = client.get(f"/threads/{thread_id}/runs/{run_id}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def wait_status(client: httpx.Client, thread_id: str, run_id: str, *wanted: str, timeout: float = 10) -> str:
    def probe() -> str | None:
        status = run_status(client, thread_id, run_id)
        return status if status in wanted else None

    return wait_for(probe, timeout)


def set_expires_at(db: Path, run_id: str, expires_at: int) -> None:
    with sqlite3.connect(db, timeout=10) as conn:
        changed = conn.execute("UPDATE runs SET expires_at = ? WHERE id = ?", (expires_at, run_id)).rowcount
    assert changed == 1


@dataclass
class StreamReader:
    """A streamed request read in a thread: the raw bytes as they arrive, parsed at the end."""

    url: str
    key: str
    body: dict[str, Any]
    stop_after: int | None = None  # close the connection after this many events
    raw: bytearray = field(default_factory=bytearray)
    status: int | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> StreamReader:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        try:
            with (
                httpx.Client(timeout=30) as http,
                http.stream("POST", self.url, json=self.body, headers=auth(self.key)) as response,
            ):
                self.status = response.status_code
                for chunk in response.iter_bytes():
                    self.raw.extend(chunk)
                    if self.stop_after is not None and len(self.names()) >= self.stop_after:
                        return
        except BaseException as exc:  # reported by the test through `join`
            self.error = exc

    def names(self) -> list[str]:
        """Event names of the complete blocks received so far."""
        blocks = bytes(self.raw).decode("utf-8", "replace").split("\n\n")[:-1]
        return [b.split("\n", 1)[0].removeprefix("event: ") for b in blocks if b.startswith("event: ")]

    def first(self, name: str) -> dict[str, Any]:
        """The data of the first complete `name` event received so far (waits for it)."""

        def probe() -> dict[str, Any] | None:
            text = bytes(self.raw).decode("utf-8", "replace")
            for block in text.split("\n\n")[:-1]:
                if block.startswith(f"event: {name}\n"):
                    data: dict[str, Any] = json.loads(block.split("data: ", 1)[1])
                    return data
            assert self.thread is not None and (self.thread.is_alive() or self.error is None), self.error
            return None

        return wait_for(probe, 15)

    def join(self, timeout: float = 20) -> list[tuple[str, dict[str, Any]]]:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the stream did not end"
        assert self.error is None, repr(self.error)
        assert self.status == 200, bytes(self.raw)
        return parse_sse(bytes(self.raw))


# -- real processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def url(self) -> str:
        return self.base + "/v1"

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)


@contextmanager
def gateway_process(tmp_path: Path, name: str, upstream: str, db: Path, **env: str) -> Iterator[Process]:
    """`python -m gateway` (engine, `db`) in front of `upstream`, ready; killed on exit if still alive."""
    port = free_port()
    environ = {
        **os.environ,
        "BACKEND": "engine",
        "DATABASE_URL": f"sqlite:///{db}",
        "LOG_FORMAT": "json",
        "KEEPALIVE_INTERVAL": "0",
        **env,
    }
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--upstream", upstream, "--port", str(port)],
            env=environ,
            stdout=log,
            stderr=log,
        )
    process = Process(popen, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_ready(process)
        yield process
    finally:
        process.kill()


def wait_ready(process: Process) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.popen.poll() is None, "the gateway exited early: " + process.log.read_text()
        try:
            if httpx.get(process.base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the gateway did not become ready: " + process.log.read_text())
