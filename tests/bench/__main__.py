"""`python -m tests.bench`: run the gateway's performance benchmark on loopback and print the tables.

Starts the minimal fast upstream (core 1), then for every scenario, repeat and target a fresh proxy
process (core 0: the naive pass-through, the gateway, the engine, nginx, or the gateway from an older
checkout; none for `direct`; for `engine-pg2` two engine replicas, and a PostgreSQL server started
once, on core 0 too), warms it up, drives the scenario's load from this process (core 1), and prints
one table per scenario plus the issue's targets. See tests/bench/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.bench.checks import summary
from tests.bench.load import LoadResult
from tests.bench.nginx import NginxMissing, nginx_binary
from tests.bench.procs import LOAD_CORE, PROXY_CORE, ROOT, pin_self
from tests.bench.profiling import PySpy, py_spy, summarize_collapsed, summarize_cprofile
from tests.bench.report import Table, run_metrics
from tests.bench.scenarios import (
    ASKED_ONLY,
    BASELINES,
    FAMILY_TARGETS,
    FULL,
    NAMED_ONLY,
    QUICK,
    REPLICAS,
    TARGETS,
    Scenario,
    warmup,
    warmup_spec,
)
from tests.bench.targets import RUN_ENGINE_ENV, Bench


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [s.name for s in FULL]
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    p.add_argument("--scenario", action="append", choices=names, help="run only these (repeatable)")
    p.add_argument("--target", action="append", choices=TARGETS, help="run only these (repeatable)")
    p.add_argument("--repeat", type=int, default=3, help="measurements per scenario and target (default 3)")
    p.add_argument("--quick", action="store_true", help="everything small, 1 repeat: a smoke check")
    p.add_argument("--json", type=Path, help="also write every run's metrics to this file")
    p.add_argument(
        "--window",
        type=float,
        metavar="S",
        help="the windowed scenarios (run_*) measure S seconds after their ramp instead of 13: what happens "
        "only now and then (a collection, a sweep) within the window",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run the gateway target from this other checkout (e.g. a git worktree of an older "
        "commit, made beforehand) as target `baseline`",
    )
    p.add_argument(
        "--baseline-python",
        type=Path,
        metavar="PYTHON",
        help="run the baseline targets with this interpreter (a venv's python with the project "
        "installed) instead of this one: with --baseline . an interpreter A/B in one run",
    )
    p.add_argument(
        "--profile",
        choices=["py-spy", "cprofile"],
        help="instead of the tables: profile the bridge under s32 (with --scenario chat_s32 or a run_* "
        "scenario: the engine under it) and summarise",
    )
    p.add_argument("--profile-out", type=Path, default=Path("/tmp/gateway-profile"), help="profile file stem")
    p.add_argument(
        "--profile-gil",
        action="store_true",
        help="py-spy: sample only the thread holding the GIL (CPU, not threads waiting to take it back)",
    )
    p.add_argument(
        "--profile-native",
        action="store_true",
        help="py-spy: C frames too (system calls, the collector, C extensions), not only Python's",
    )
    return p.parse_args(argv)


def _describe(checkout: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=checkout,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "?"
    return done.stdout.strip() or "? (not a git checkout)"


def _python(exe: Path) -> str:
    done = subprocess.run(
        [str(exe), "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    return done.stdout.strip() or f"? ({exe})"


def _header(quick: bool, repeat: int, baseline: Path | None, baseline_python: Path | None = None) -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("starlette", "uvicorn", "httpx", "aiohttp", "httpx-aiohttp", "orjson", "msgspec")
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    base = f"; baseline at {_describe(baseline)} ({baseline})" if baseline else ""
    if baseline_python is not None:
        base += f" on python {_python(baseline_python)} ({baseline_python})"
    return (
        f"minimax-gateway benchmark ({'quick' if quick else 'full'}, {repeat} repeat(s)); "
        f"gateway at {_describe(ROOT)}{base}\n"
        f"python {sys.version.split()[0]}; {versions}; {os.cpu_count()} cores ({_cpu_model()}), "
        f"kernel {platform.release()}, load average {load}\n"
        f"proxy on core {PROXY_CORE}; upstream and load client on core {LOAD_CORE}; "
        "one event = one upstream frame (CPU µs/event uses the same count for every target)\n"
    )


def _cpu_model() -> str:
    """The CPU's name as the kernel reports it. Runs on different machines do not compare: loopback TCP,
    most of nginx's figure, costs differently from one kernel and CPU to another."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


PROFILE_ROUNDS = 5


def _progress(sc: Scenario, target: str, rep: int, reps: int, m: dict[str, Any], res: LoadResult) -> None:
    cpu = m.get("cpu_us_frame")
    if sc.kind == "store":
        print(f"  {sc.name:11} {target:10} store CPU {m['store_cpu_best_ms']:.2f} ms/run", file=sys.stderr)
        return
    if sc.kind == "window":
        tx = m.get("tx_write_s")
        parts = [
            f"{sc.name:11} {target:10} {rep + 1}/{reps}",
            f"window {res.wall_s:5.1f}s",
            f"started {res.started}",
            f"ended {res.streams_ok}",
            f"chunks/s {m['chunks_s']:.0f}",
            f"cpu/chunk {cpu:.1f}µs" if cpu is not None else "",
            f"write tx/s {tx:.0f}" if tx is not None else "",
            f"errors {sum(res.errors.values())}",
        ]
        print("  " + "  ".join(p for p in parts if p), file=sys.stderr, flush=True)
        return
    parts = [
        f"{sc.name:11} {target:10} {rep + 1}/{reps}",
        f"wall {res.wall_s:6.1f}s",
        f"streams {res.streams_ok}",
        f"events {res.events}",
        f"cpu/ev {cpu:.1f}µs" if cpu is not None else "",
        f"errors {sum(res.errors.values())}",
    ]
    print("  " + "  ".join(p for p in parts if p), file=sys.stderr, flush=True)


def run_tables(args: argparse.Namespace, scenarios: list[Scenario], targets: list[str]) -> None:
    repeat = 1 if args.quick else args.repeat
    print(_header(args.quick, repeat, args.baseline, args.baseline_python), flush=True)
    bench = Bench(
        reuse=args.quick,
        log_dir=Path(tempfile.mkdtemp(prefix="bench-")),
        baseline=args.baseline,
        baseline_python=args.baseline_python,
    )
    tables: dict[str, Table] = {}
    dump: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for sc in scenarios:
            table = Table(sc, targets)
            if not table.targets:
                print(f"  {sc.name}: none of its targets selected; skipped", file=sys.stderr)
                continue
            tables[sc.name] = table
            reps = sc.repeat or repeat
            for rep in range(reps):
                for target in table.targets:
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
    """Profile under s32 on the bridge (`gateway`), or under chat_s32 on the engine when
    `--scenario chat_s32` is given."""
    asked = [n for n in (args.scenario or ()) if n == "chat_s32" or n.startswith("run_")]
    name = asked[0] if asked else "s32"
    sc = next(s for s in scenarios if s.name == name)
    target = "engine" if sc.family in ("chat", "run") else "gateway"
    runs = sc.family == "run"
    if args.profile == "py-spy" and py_spy() is None:
        print("py-spy not found; falling back to cProfile", file=sys.stderr)
        args.profile = "cprofile"
    bench = Bench(reuse=False, log_dir=Path(tempfile.mkdtemp(prefix="bench-")))
    try:
        env = dict(RUN_ENGINE_ENV) if runs else {}
        if args.profile == "cprofile":
            out = args.profile_out.with_suffix(".pstats")
            proxy = bench.proxy(target, env={**env, "BENCH_CPROFILE": str(out)})
        else:
            out = args.profile_out.with_suffix(".collapsed")
            proxy = bench.proxy(target, env=env)
        warm = warmup_spec(target, proxy.url, sc.family)
        if runs:
            warm = bench.thread_run_spec(warm, warmup(sc.family), proxy)
        elif target == "engine":
            warm = bench.engine_spec(warm, warmup(sc.family), proxy.url)
        bench.load(warm)
        rounds = replace(sc, streams_per_worker=sc.streams_per_worker * PROFILE_ROUNDS)  # more samples
        spec = replace(sc.spec(target, proxy.url), proxy_pid=proxy.pid, upstream_pid=bench.upstream.pid)
        if runs:  # a window: as long as it is, not more rounds
            rounds = sc
            spec = bench.thread_run_spec(spec, sc, proxy)
        elif target == "engine":
            spec = bench.engine_spec(
                replace(spec, streams_per_worker=rounds.streams_per_worker), rounds, proxy.url
            )
        else:
            spec = replace(spec, streams_per_worker=rounds.streams_per_worker)
        spy = (
            PySpy(proxy.pid, out, gil=args.profile_gil, native=args.profile_native)
            if args.profile == "py-spy"
            else None
        )
        time.sleep(1.0)  # py-spy attaches
        res = bench.load(spec)
        if spy is not None:
            spy.stop()
        proxy.stop()
    finally:
        bench.close()
    m = run_metrics(rounds, target, res)
    print(f"profiled [{sc.name}] {sc.title}, x{PROFILE_ROUNDS} rounds, on the {target} ({args.profile})")
    print(f"  CPU µs/event {m.get('cpu_us_frame', 0):.1f}, errors {m['errors']}, profile: {out}")
    print(summarize_collapsed(out) if args.profile == "py-spy" else summarize_cprofile(out))


def _targets(args: argparse.Namespace, scenarios: list[Scenario]) -> list[str]:
    """The targets to run; exits with a message when one cannot run (nothing silently left out)."""
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / "gateway" / "cli.py").is_file():
            sys.exit(f"--baseline {args.baseline}: no gateway/cli.py there (make the worktree first)")
    if args.target and BASELINES & set(args.target) and args.baseline is None:
        sys.exit("the baseline targets need --baseline DIR")
    default = [
        t for t in TARGETS if (t not in BASELINES or args.baseline is not None) and t not in ASKED_ONLY
    ]
    targets = [t for t in TARGETS if t in (args.target or default)]
    running = {t for s in scenarios for t in FAMILY_TARGETS[s.family]} & set(targets)
    if "nginx" in running and not args.profile:
        try:
            nginx_binary()
        except NginxMissing as exc:
            sys.exit(f"python -m tests.bench: {exc}")
    if running & set(REPLICAS) and not args.profile:
        from tests.postgres import PG_BIN  # imports pytest and the store: only when wanted

        missing = [tool for tool in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / tool).exists()]
        if missing:
            sys.exit(
                f"python -m tests.bench: the engine-pg targets need PostgreSQL's {', '.join(missing)} in "
                f"{PG_BIN} (apt-get install postgresql, or set PG_BIN; or leave them out with --target)"
            )
    return targets


def _windowed(sc: Scenario, seconds: float) -> Scenario:
    title = sc.title.replace(f"{sc.window_s:g} s window", f"{seconds:g} s window")
    return replace(sc, window_s=seconds, title=title)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pool = QUICK if args.quick else FULL
    scenarios = (
        [s for s in pool if s.name in args.scenario]
        if args.scenario
        else [s for s in pool if s.name not in NAMED_ONLY]
    )
    if args.window:
        scenarios = [_windowed(s, args.window) if s.kind == "window" else s for s in scenarios]
    targets = _targets(args, scenarios)
    pin_self(LOAD_CORE)
    if args.profile:
        run_profile(args, pool)
    else:
        run_tables(args, scenarios, targets)


if __name__ == "__main__":
    main()
