"""SIGTERM on the real `python -m gateway` process: readiness fails and new work is refused at once,
open streams get the drain period, the ones still open then end with a terminal event, exit 0. And the
server's main loop: woken once a tick, not ten times, and at once by an exit."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway import server as server_module
from gateway.server import Server
from tests.stream_checks import check, parse_sse

DRAIN = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited early"
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the gateway did not become ready")


def test_sigterm_drains_open_streams_then_exits_cleanly(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BACKEND": "assistants",
        "DRAIN_SECONDS": str(DRAIN),
        "LOG_FORMAT": "json",
        "KEEPALIVE_INTERVAL": "0",
    }
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--emulator", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_ready(base, process)
        auth = {"Authorization": "Bearer k"}
        assistant = httpx.post(f"{base}/v1/assistants", json={"model": "abab6.5s-chat"}, headers=auth).json()
        results: dict[str, Any] = {}

        def stream(name: str, pace_ms: int) -> None:
            body = {
                "assistant_id": assistant["id"],
                "stream": True,
                "metadata": {"emulator_pace_ms": str(pace_ms)},
                "thread": {"messages": [{"role": "user", "content": "hello"}]},
            }
            with httpx.Client(timeout=30) as http:
                response = http.post(f"{base}/v1/threads/runs", json=body, headers=auth)
            results[name] = (time.monotonic(), response)

        threads = [
            threading.Thread(target=stream, args=("slow", 400)),  # ~12 s of frames: outlives the drain
            threading.Thread(target=stream, args=("quick", 25)),
        ]  # ends well within it
        for t in threads:
            t.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        ready = httpx.get(base + "/readyz", timeout=2)
        refused = httpx.post(
            f"{base}/v1/assistants", json={"model": "abab6.5s-chat"}, headers=auth, timeout=2
        )
        for t in threads:
            t.join(15)
        exit_code = process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    logged = (tmp_path / "gateway.log").read_text()
    assert "draining" in logged and "Traceback" not in logged
    assert ready.status_code == 503
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"

    ended_at, slow = results["slow"]
    slow_events = parse_sse(slow.content)  # ends with `done`, or parse_sse fails
    assert slow_events[-1][0] == "thread.run.failed"
    assert "shut down" in slow_events[-1][1]["last_error"]["message"]
    check(slow_events)
    assert DRAIN - 0.5 < ended_at - signalled < DRAIN + 3

    _, quick = results["quick"]
    assert parse_sse(quick.content)[-1][0] == "thread.run.completed"
    assert exit_code == 0


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


async def _serving(server: Server, sock: socket.socket) -> asyncio.Task[None]:
    """`server` serving on `sock`, once started."""
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not serving.done()
        await asyncio.sleep(0.01)
    return serving


class _CountingServer(Server):
    ticks = 0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)


def test_the_main_loop_wakes_once_a_tick_and_keeps_the_date_header_current() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _CountingServer(uvicorn.Config(_hello, lifespan="off", log_config=None))

    async def serve_a_while() -> tuple[str, str]:
        serving = await _serving(server, sock)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                first = (await http.get("/")).headers["date"]
                await asyncio.sleep(2.3)
                second = (await http.get("/")).headers["date"]
            return first, second
        finally:
            server.should_exit = True
            await serving

    try:
        first, second = asyncio.run(serve_a_while())
    finally:
        sock.close()
    # uvicorn's own loop ticks every 0.1 s: ~24 times here; this one on start, then once a second
    assert 2 <= server.ticks <= 4
    assert (parsedate_to_datetime(second) - parsedate_to_datetime(first)).total_seconds() >= 1


def test_an_exit_set_from_another_thread_does_not_wait_for_the_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "TICK_SECONDS", 300.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = Server(uvicorn.Config(_hello, lifespan="off", log_config=None))

    async def serve_then_exit() -> None:
        serving = await _serving(server, sock)
        await asyncio.sleep(0.2)  # the main loop is waiting out its tick
        await asyncio.to_thread(setattr, server, "should_exit", True)  # as `ServerThread.stop` does
        await asyncio.wait_for(serving, 20)  # TimeoutError if the exit waited for the tick

    try:
        asyncio.run(serve_then_exit())
    finally:
        sock.close()
