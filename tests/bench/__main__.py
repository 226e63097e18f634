"""`python -m tests.bench`: run the gateway's performance benchmark on loopback and print the tables.

Starts the minimal fast upstream (core 1), then for every scenario, repeat and target a fresh proxy
process (core 0: the naive pass-through or the gateway; none for `direct`), warms it up, drives
the scenario's load from this process (core 1), and prints one table per scenario plus the
issue's targets. See tests/bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import uvloop

from tests.bench.load import LoadResult, LoadSpec, run_load
from tests.bench.proc_stats import cpu_ns
from tests.bench.procs import LOAD_CORE, PROXY_CORE, ROOT, Server, pin_self
from tests.bench.profiling import PySpy, py_spy, summarize_collapsed, summarize_cprofile
from tests.bench.report import Table, run_metrics, summary
from tests.bench.scenarios import FULL, QUICK, TARGETS, Scenario, warmup_spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [s.name for s in FULL]
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    p.add_argument("--scenario", action="append", choices=names, help="run only these (repeatable)")
    p.add_argument("--target", action="append", choices=TARGETS, help="run only these (repeatable)")
    p.add_argument("--repeat", type=int, default=3, help="measurements per scenario and target (default 3)")
    p.add_argument("--quick", action="store_true", help="everything small, 1 repeat: a smoke check")
    p.add_argument("--json", type=Path, help="also write every run's metrics to this file")
    p.add_argument(
        "--profile",
        choices=["py-spy", "cprofile"],
        help="instead of the tables: profile the gateway under the s32 scenario and summarise",
    )
    p.add_argument("--profile-out", type=Path, default=Path("/tmp/gateway-profile"), help="profile file stem")
    return p.parse_args(argv)


def _header(quick: bool, repeat: int) -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("starlette", "uvicorn", "httpx", "aiohttp", "httpx-aiohttp", "orjson", "msgspec")
    )
    try:
        head = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        head = "?"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"minimax-gateway benchmark ({'quick' if quick else 'full'}, {repeat} repeat(s)); gateway at {head}\n"
        f"python {sys.version.split()[0]}; {versions}; {os.cpu_count()} cores, load average {load}\n"
        f"proxy on core {PROXY_CORE}; upstream and load client on core {LOAD_CORE}; "
        "one event = one upstream frame (CPU µs/event uses the same count for every target)\n"
    )


SETTLE_S = 2.0  # a fresh interpreter burns extra CPU for its first seconds (lazy imports, page faults)
IDLE_S = 0.5
PROFILE_ROUNDS = 5


class Bench:
    def __init__(self, reuse: bool, log_dir: Path) -> None:
        self.reuse = reuse
        self.log_dir = log_dir
        self.upstream = Server("upstream", LOAD_CORE, log_dir=log_dir)
        self.kept: dict[str, Server] = {}

    def proxy(self, target: str, env: dict[str, str] | None = None) -> Server:
        if self.reuse and target in self.kept:
            return self.kept[target]
        server = Server(target, PROXY_CORE, self.upstream.url, self.log_dir, env)
        if self.reuse:
            self.kept[target] = server
        return server

    def load(self, spec: LoadSpec) -> LoadResult:
        gc.collect()
        return uvloop.run(run_load(spec))

    def measure(self, sc: Scenario, target: str) -> tuple[LoadResult, dict[str, Any]]:
        proxy = self.proxy(target) if target != "direct" else None
        try:
            url = proxy.url if proxy else self.upstream.url
            warm = self.load(warmup_spec(target, url))
            if warm.errors:
                print(f"  warm-up errors on {target}: {dict(warm.errors)}", file=sys.stderr)
            idle = None
            if proxy is not None:  # let start-up work die down, then read the idle CPU rate
                time.sleep(max(SETTLE_S - (time.monotonic() - proxy.started), 0.0))
                before = cpu_ns(proxy.pid)
                time.sleep(IDLE_S)
                idle = (cpu_ns(proxy.pid) - before) / 1e6 / IDLE_S
            spec = replace(
                sc.spec(target, url), proxy_pid=proxy.pid if proxy else None, upstream_pid=self.upstream.pid
            )
            res = self.load(spec)
            if res.errors and proxy is not None:
                print(f"  {target} log tail:\n{proxy.log_tail()}", file=sys.stderr)
        finally:
            if proxy is not None and not self.reuse:
                proxy.stop()
        time.sleep(0.3)
        metrics = run_metrics(sc, target, res)
        metrics["idle_ms_s"] = idle
        return res, metrics

    def close(self) -> None:
        for server in self.kept.values():
            server.stop()
        self.upstream.stop()


def _progress(sc: Scenario, target: str, rep: int, reps: int, m: dict[str, Any], res: LoadResult) -> None:
    cpu = m.get("cpu_us_frame")
    parts = [
        f"{sc.name:8} {target:7} {rep + 1}/{reps}",
        f"wall {res.wall_s:6.1f}s",
        f"streams {res.streams_ok}",
        f"events {res.events}",
        f"cpu/ev {cpu:.1f}µs" if cpu is not None else "",
        f"errors {sum(res.errors.values())}",
    ]
    print("  " + "  ".join(p for p in parts if p), file=sys.stderr, flush=True)


def run_tables(args: argparse.Namespace, scenarios: list[Scenario], targets: list[str]) -> None:
    repeat = 1 if args.quick else args.repeat
    print(_header(args.quick, repeat), flush=True)
    bench = Bench(reuse=args.quick, log_dir=Path(tempfile.mkdtemp(prefix="bench-")))
    tables: dict[str, Table] = {}
    dump: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for sc in scenarios:
            table = tables[sc.name] = Table(sc)
            reps = sc.repeat or repeat
            for rep in range(reps):
                for target in targets:
                    res, m = bench.measure(sc, target)
                    table.add(target, m)
                    dump.append({"scenario": sc.name, "target": target, "repeat": rep, **m})
                    _progress(sc, target, rep, reps, m, res)
            print(table.render(args.quick) + "\n", flush=True)
    finally:
        bench.close()
    print(summary(tables, args.quick))
    print(f"\ntotal time {time.monotonic() - started:.0f} s; server logs in {bench.log_dir}")
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1, default=str))


def run_profile(args: argparse.Namespace, scenarios: list[Scenario]) -> None:
    sc = next(s for s in scenarios if s.name == "s32")
    if args.profile == "py-spy" and py_spy() is None:
        print("py-spy not found; falling back to cProfile", file=sys.stderr)
        args.profile = "cprofile"
    bench = Bench(reuse=False, log_dir=Path(tempfile.mkdtemp(prefix="bench-")))
    try:
        if args.profile == "cprofile":
            out = args.profile_out.with_suffix(".pstats")
            proxy = bench.proxy("gateway", env={"BENCH_CPROFILE": str(out)})
        else:
            out = args.profile_out.with_suffix(".collapsed")
            proxy = bench.proxy("gateway")
        bench.load(warmup_spec("gateway", proxy.url))
        spy = PySpy(proxy.pid, out) if args.profile == "py-spy" else None
        time.sleep(1.0)  # py-spy attaches
        spec = replace(
            sc.spec("gateway", proxy.url),
            streams_per_worker=sc.streams_per_worker * PROFILE_ROUNDS,  # more samples
            proxy_pid=proxy.pid,
            upstream_pid=bench.upstream.pid,
        )
        res = bench.load(spec)
        if spy is not None:
            spy.stop()
        proxy.stop()
    finally:
        bench.close()
    m = run_metrics(sc, "gateway", res)
    print(f"profiled [{sc.name}] {sc.title}, x{PROFILE_ROUNDS} rounds, on the gateway ({args.profile})")
    print(f"  CPU µs/event {m.get('cpu_us_frame', 0):.1f}, errors {m['errors']}, profile: {out}")
    print(summarize_collapsed(out) if args.profile == "py-spy" else summarize_cprofile(out))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pool = QUICK if args.quick else FULL
    scenarios = [s for s in pool if not args.scenario or s.name in args.scenario]
    targets = [t for t in TARGETS if not args.target or t in args.target]
    pin_self(LOAD_CORE)
    if args.profile:
        run_profile(args, pool)
    else:
        run_tables(args, scenarios, targets)


if __name__ == "__main__":
    main()
