"""SIGTERM on the real `python -m gateway` process: readiness fails and new work is refused at once,
open streams get the drain period, the ones still open then end with a terminal event, exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

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
