"""The code_interpreter sandbox's costs: `python -m tests.bench.sandbox` (root, bubblewrap installed).

Prints, over N runs each: a cold run (a new sandbox and interpreter for `print(1)`), a cold run that
imports numpy, pandas and matplotlib, a session's first cell (its interpreter starting) and its warm cells
(`x += 1` in an interpreter already running): median and p90 wall milliseconds, measured from the
gateway's side of the pipe. Then the same warm cell through the sandbox server (`RemoteSessions` over
loopback HTTP), and a code_interpreter call inside a streamed run through the gateway (engine, SQLite,
the emulator upstream), timed on the client from the call's last `input` delta to its `outputs` delta:
the gateway's whole cost of serving the call (the session's cell, the store, the events), cold (the
thread's first call: its interpreter starts) and warm.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson

from gateway.loopback import ServerThread
from gateway.sandbox.remote import RemoteSessions
from gateway.sandbox.run import Sandbox, prepare
from gateway.sandbox.server import create_app
from gateway.sandbox.session import Session
from gateway.sandbox.sessions import LocalSessions
from tests.e2e.files_helpers import engine_gateway

UID = 240_000


async def _timed(n: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    took = []
    for i in range(n):
        started = time.perf_counter()
        await step(i)
        took.append((time.perf_counter() - started) * 1000)
    return took


def _row(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name:48} {statistics.median(ms):8.1f} {p90:8.1f} {len(ms):6}"


async def main(n: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    base.chmod(0o711)
    data = base / "session"
    prepare(data, UID)
    sandbox = Sandbox()
    try:
        cold = await _timed(n, lambda i: sandbox.run("print(1)", data, UID))
        libs = "import numpy, pandas, matplotlib.pyplot"
        cold_libs = await _timed(max(3, n // 4), lambda i: sandbox.run(libs, data, UID))
        firsts, warm = [], []
        for _ in range(max(3, n // 4)):
            session = Session(sandbox, data, UID)
            execute = session.execute
            firsts += await _timed(1, lambda i, run=execute: run("x = 0"))  # type: ignore[misc]
            warm += await _timed(n, lambda i, run=execute: run("x += 1"))  # type: ignore[misc]
            await session.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'measurement':48} {'p50 ms':>8} {'p90 ms':>8} {'runs':>6}")
    print(_row("cold run: new sandbox, print(1)", cold))
    print(_row("cold run importing numpy, pandas, matplotlib", cold_libs))
    print(_row("session: first cell (interpreter starts)", firsts))
    print(_row("session: warm cell (x += 1), per call overhead", warm))
    print(_row("sandbox server: warm cell over HTTP", await _remote(n)))
    cold_calls, warm_calls = await asyncio.to_thread(_in_runs, max(3, n // 4))
    print(_row("in a run: a thread's first call (interpreter starts)", cold_calls))
    print(_row("in a run: a warm call (the session running)", warm_calls))


async def _remote(n: int) -> list[float]:
    base = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    base.chmod(0o711)
    sessions = LocalSessions(
        Sandbox(), base, location="bench", idle_seconds=600, max_sessions=4, first_uid=UID + 10
    )
    try:
        with ServerThread(create_app(sessions, "bench-token")) as server:
            remote = RemoteSessions(server.url, "bench-token")
            try:
                await remote.execute("bench", "x = 0")
                return await _timed(n, lambda i: remote.execute("bench", "x += 1"))
            finally:
                await remote.aclose()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _call_ms(http: httpx.Client, thread_id: str, assistant_id: str, code: str) -> float:
    """One streamed run whose message has `code` fenced (it must print: a call without output has no
    outputs delta): ms from the call's last input delta to its outputs delta."""
    content = f"```python\n{code}\n```"
    made = http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": content})
    made.raise_for_status()
    last_input = outputs = 0.0
    body = {"assistant_id": assistant_id, "stream": True}
    with http.stream("POST", f"/threads/{thread_id}/runs", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            data = orjson.loads(line[6:])
            for call in ((data.get("delta") or {}).get("step_details") or {}).get("tool_calls") or ():
                shown = call.get("code_interpreter") or {}
                if shown.get("input"):
                    last_input = time.perf_counter()
                if shown.get("outputs"):
                    outputs = time.perf_counter()
    return (outputs - last_input) * 1000


def _in_runs(n: int) -> tuple[list[float], list[float]]:
    base = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    base.chmod(0o711)
    (base / "db").mkdir()
    try:
        with engine_gateway(
            base / "db", code_sandbox_dir=base / "sessions", code_first_uid=UID + 20
        ) as gateway:
            headers = {"Authorization": "Bearer sk-bench", "OpenAI-Beta": "assistants=v2"}
            with httpx.Client(base_url=gateway.url, headers=headers, timeout=60) as http:
                tools = [{"type": "code_interpreter"}]
                assistant = http.post("/assistants", json={"model": "MiniMax-M2.7", "tools": tools}).json()
                cold, warm = [], []
                for _ in range(n):
                    thread = http.post("/threads", json={}).json()
                    cold.append(_call_ms(http, thread["id"], assistant["id"], "x = 0\nx"))
                    warm += [_call_ms(http, thread["id"], assistant["id"], "x += 1\nx") for _ in range(3)]
                return cold, warm
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40, help="runs per measurement")
    asyncio.run(main(parser.parse_args().n))
