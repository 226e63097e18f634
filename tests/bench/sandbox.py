"""The code_interpreter sandbox's costs: `python -m tests.bench.sandbox` (root, bubblewrap installed).

Prints, over N runs each: a cold run (a new sandbox and interpreter for `print(1)`), a cold run that
imports numpy, pandas and matplotlib, a session's first cell (its interpreter starting) and its warm cells
(`x += 1` in an interpreter already running): median and p90 wall milliseconds, measured from the
gateway's side of the pipe.
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

from gateway.sandbox.run import Sandbox, prepare
from gateway.sandbox.session import Session

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40, help="runs per measurement")
    asyncio.run(main(parser.parse_args().n))
