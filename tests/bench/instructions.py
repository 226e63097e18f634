"""`python -m tests.bench.instructions`: the engine's instructions per chunk (or per run) under
callgrind, a figure that repeats within a few percent (two runs of one build: 73,285 and 75,254 less
the idle rate) where this VM's CPU times move by a quarter from one run to the next.

The engine (this checkout, and with `--baseline DIR` that checkout's too, one after the other) runs
under `valgrind --tool=callgrind --instr-atstart=no` on core 0, beside the bench upstream on core 1.
Instrumentation is switched on (`callgrind_control -i on`) only inside the windows measured:

- idle: `--idle` seconds before any load, for the loop's own work per second (sweeps, ticks);
- streams (default): `--streams` create-thread-and-run streams of M2.7-shaped chunks at one chunk
  every `--pace-ms`; the window opens once every stream has delivered a delta (run starts are
  outside it) and closes `--window` seconds later, long before the replies end. Printed: instructions
  per delta event the client read, and the same less the idle rate over the window;
- `--runs N`: N create-thread-and-runs of a one-chunk reply, 4 at a time, after 40 to warm up:
  instructions per run (start, one chunk, end).

`--cache BYTES` has callgrind simulate the caches too (a last level of BYTES) and prints the misses per
unit: the memory a chunk reaches, which the instruction count cannot see.

`--lines K` counts Python lines instead (`tests/bench/linetrace.py`, no valgrind needed) and prints the
K functions and the packages that ran the most of them per unit: which Python a run or a chunk runs,
where callgrind's count cannot say.

Under callgrind the engine runs about 50 times slower: keep the chunk rate low (the defaults offer 200
chunks a second) so that every read still carries one chunk, as it does at MiniMax's pace; the printed
delta count shows whether the engine kept up. Instruction counts say what work a change removed, not
how long it took: at 500 streams most of a chunk's time is memory stalls (tests/bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.bench.engine_setup import assistant_sync, tenant_key
from tests.bench.procs import LOAD_CORE, PROXY_CORE, ROOT, Server, free_port, pin_self
from tests.bench.scenarios import thread_run_body

START_TIMEOUT_S = 300.0  # the engine imports and migrates under callgrind
WARM_RUNS = 40
PARALLEL_RUNS = 4


@dataclass
class Counts:
    idle_per_s: float = 0.0
    load: int = 0  # instructions (or lines) in the load window
    window_s: float = 0.0
    units: int = 0  # delta events read in the window, or runs completed
    table: list[tuple[str, int, str, int]] = field(default_factory=list)  # --lines: the load window's
    misses: dict[str, int] = field(default_factory=dict)  # --cache: the load window's, by cache level
    idle_misses_per_s: dict[str, float] = field(default_factory=dict)

    def per_unit(self) -> float:
        return self.load / self.units

    def net_per_unit(self) -> float:
        return (self.load - self.idle_per_s * self.window_s) / self.units


class Engine:
    """The engine of one checkout under callgrind (or, with `lines`, the line counter), on a fresh
    SQLite file unless `settings` name a DATABASE_URL."""

    def __init__(
        self,
        checkout: Path,
        upstream: str,
        work: Path,
        settings: dict[str, str],
        lines: bool = False,
        cache: int = 0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = work / (f"lines.{self.port}.json" if lines else f"callgrind.{self.port}")
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{work / f'engine-{self.port}.db'}",  # `--set` may name another
            **settings,
            "BACKEND": "engine",
            "BENCH_BACKEND": "engine",
            "DRAIN_SECONDS": "1",
            "PYTHONPATH": str(checkout),
            "PYTHONUNBUFFERED": "1",
        }
        serve = [sys.executable, "-P", str(ROOT / "tests" / "bench" / "serve.py"), "gateway"]
        self.lines = lines
        self.table: list[tuple[str, int, str, int]] = []
        self.misses: dict[str, int] = {}  # the last window's, with `cache`
        cmd = ["taskset", "-c", str(PROXY_CORE)]
        if lines:
            env["BENCH_LINES_OUT"] = str(self.out)
            cmd += [sys.executable, "-P", str(ROOT / "tests" / "bench" / "linetrace.py"), *serve[2:]]
        else:
            cmd += ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}"]
            if cache:  # this VM's L1s, and `cache` bytes of 8-way last level (its L2 is 1 MiB a core)
                cmd += ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", f"--LL={cache},8,64"]
            cmd += serve
        cmd += ["--port", str(self.port), "--upstream", upstream]
        self.log_path = work / f"engine-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=checkout, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._dumps = 0
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the engine did not start; see {self.log_path}") from None
                time.sleep(1)

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True, capture_output=True)

    def on(self) -> None:
        if self.lines:
            os.kill(self.proc.pid, signal.SIGUSR1)
            return
        self._control("-i", "on")

    def off(self) -> int:
        """Instrumentation off; the instructions (or lines) counted since `on`."""
        if self.lines:
            self.out.unlink(missing_ok=True)
            os.kill(self.proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 60
            while not self.out.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no line counts from the engine; see {self.log_path}")
                time.sleep(0.1)
            self.table = [(f, line, name, n) for f, line, name, n in json.loads(self.out.read_text())]
            return sum(row[3] for row in self.table)
        self._control("-i", "off")
        self._control("-d")
        self._dumps += 1
        dump = Path(f"{self.out}.{self._dumps}")
        names: list[str] = []
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("totals:"):
                totals = dict(zip(names, map(int, line.split()[1:]), strict=False))
                if "D1mr" in totals:  # --cache: the simulation's misses, reads and writes together
                    self.misses = {
                        "D1": totals["D1mr"] + totals["D1mw"],
                        "LL": totals["ILmr"] + totals["DLmr"] + totals["DLmw"],
                    }
                return totals["Ir"]
        raise RuntimeError(f"no totals in {dump}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _stream(
    session: aiohttp.ClientSession, engine: Engine, body: bytes, key: str, seen: list[int]
) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with session.post(engine.url + "/v1/threads/runs", data=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"create-thread-and-run -> {response.status}: {await response.text()}")
        async for line in response.content:
            if line.startswith(b"event: thread.message.delta"):
                seen[0] += 1


async def _measure(engine: Engine, args: argparse.Namespace) -> Counts:
    key = tenant_key()
    assistant = await asyncio.to_thread(assistant_sync, engine.url, key)
    counts = Counts()
    await asyncio.sleep(2)
    engine.on()
    await asyncio.sleep(args.idle)
    counts.idle_per_s = engine.off() / args.idle
    counts.idle_misses_per_s = {level: n / args.idle for level, n in engine.misses.items()}
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        if args.runs:
            body = thread_run_body(assistant, "bench_n1_p0_ans_run")
            done = [0]

            async def runs(n: int) -> None:
                for _ in range(n):
                    await _stream(session, engine, body, key, [0])
                    done[0] += 1

            await asyncio.gather(*(runs(WARM_RUNS // PARALLEL_RUNS) for _ in range(PARALLEL_RUNS)))
            done[0] = 0
            started = time.monotonic()
            engine.on()
            await asyncio.gather(*(runs(args.runs // PARALLEL_RUNS) for _ in range(PARALLEL_RUNS)))
            counts.load = engine.off()
            counts.misses = engine.misses
            counts.window_s = time.monotonic() - started
            counts.units = done[0]
            return counts
        # Long enough replies that none ends inside the window, however slowly the streams started.
        frames = int((START_TIMEOUT_S + args.window + 60) * 1000 / args.pace_ms)
        body = thread_run_body(assistant, f"bench_n{frames}_p{args.pace_ms}_ans_run")
        seen = [[0] for _ in range(args.streams)]
        tasks = [asyncio.create_task(_stream(session, engine, body, key, s)) for s in seen]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(s[0] for s in seen):
            if time.monotonic() > deadline or any(t.done() for t in tasks):
                for t in tasks:
                    t.cancel()
                raise RuntimeError("the streams did not all start")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        before = sum(s[0] for s in seen)
        engine.on()
        await asyncio.sleep(args.window)
        counts.load = engine.off()
        counts.misses = engine.misses
        counts.units = sum(s[0] for s in seen) - before
        counts.window_s = args.window
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return counts


def _one(checkout: Path, upstream: str, args: argparse.Namespace, settings: dict[str, str]) -> Counts:
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as work:
        engine = Engine(checkout, upstream, Path(work), settings, lines=bool(args.lines), cache=args.cache)
        try:
            counts = asyncio.run(_measure(engine, args))
            counts.table = engine.table  # the last window counted: the load's
            return counts
        finally:
            engine.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20, help="streams open in the window")
    parser.add_argument("--pace-ms", type=int, default=100, help="ms between a stream's chunks")
    parser.add_argument("--window", type=float, default=20.0, help="seconds counted under load")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds counted before any load")
    parser.add_argument("--runs", type=int, default=0, help="count whole runs instead")
    parser.add_argument("--baseline", type=Path, help="also measure the engine of this checkout")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting for the engine(s)"
    )
    parser.add_argument(
        "--lines", type=int, default=0, metavar="K", help="count Python lines; show the top K"
    )
    parser.add_argument(
        "--cache",
        type=int,
        default=0,
        metavar="BYTES",
        help="also simulate the caches (a last level of BYTES, e.g. 1048576) and count misses",
    )
    args = parser.parse_args(argv)
    if not args.lines and not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        raise SystemExit("needs valgrind (Debian's package) for callgrind and callgrind_control")
    settings = dict(item.split("=", 1) for item in args.set)
    pin_self(LOAD_CORE)
    unit = "run" if args.runs else "chunk"
    what = f"{args.runs} runs" if args.runs else f"{args.streams} streams, a chunk every {args.pace_ms} ms"
    counted, tool = ("Python lines", "a line counter") if args.lines else ("instructions", "callgrind")
    print(f"engine {counted} under {tool}: {what}; settings {settings or 'default'}")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-up-") as logs:
        upstream = Server("upstream", LOAD_CORE, log_dir=Path(logs))
        try:
            results = [("engine", _one(ROOT, upstream.url, args, settings))]
            if args.baseline is not None:
                baseline = _one(args.baseline.resolve(), upstream.url, args, settings)
                results.append(("engine-baseline", baseline))
        finally:
            upstream.stop()
    for name, c in results:
        print(
            f"{name:16} idle {c.idle_per_s:,.0f} {counted}/s; {c.units} {unit}s in "
            f"{c.window_s:.1f} s; {c.per_unit():,.0f} {counted} per {unit}, "
            f"{c.net_per_unit():,.0f} less the idle rate"
        )
        if args.lines:
            _top(c, args.lines, unit)
        for level, n in c.misses.items():
            net = n - c.idle_misses_per_s.get(level, 0.0) * c.window_s
            per, less = n / c.units, net / c.units
            print(f"{'':16} {level} misses per {unit}: {per:,.0f}, {less:,.0f} less the idle rate")
    if len(results) == 2:
        ratio = results[0][1].net_per_unit() / results[1][1].net_per_unit()
        print(f"engine÷engine-baseline (less idle): {ratio:.3f}")


def _where(path: str) -> str:
    """A gateway module by its path; anything else by its package (or the standard library's module)."""
    path = path.replace(str(ROOT) + os.sep, "")
    if path.startswith("gateway" + os.sep):
        return path
    found = re.search(r"/site-packages/([^/]+)", path) or re.search(r"/python3\.\d+/([^/]+)", path)
    return found.group(1) if found else path


def _top(c: Counts, k: int, unit: str) -> None:
    """The load window's K busiest functions and places, in lines per unit (idle work included)."""
    by_place: collections.Counter[str] = collections.Counter()
    for path, _, _, n in c.table:
        by_place[_where(path)] += n
    print(f"  by place, lines per {unit}:")
    for place, n in by_place.most_common(k):
        print(f"    {n / c.units:9.1f}  {place}")
    print(f"  by function, lines per {unit}:")
    for path, line, name, n in sorted(c.table, key=lambda row: -row[3])[:k]:
        print(f"    {n / c.units:9.1f}  {name} ({path.replace(str(ROOT) + os.sep, '')}:{line})")


if __name__ == "__main__":
    main()
