"""The process behind each target, and one measurement of a scenario against a target.

Every target but `direct` is its own process on the proxy core, fresh for every scenario, repeat and
target (kept across scenarios with `--quick`): `naive` / `naive-chat` the naive pass-through,
`floor-asgi` / `floor-proto` the two floors of the chat stream (floor.py), `gateway`
the bridge (BACKEND=assistants), `engine` the gateway with BACKEND=engine on a fresh SQLite file,
`baseline` the bridge from another checkout (its `gateway` import checked), `nginx` nginx. The
engine's assistant and threads are made before the timed part (engine_setup.py); for the `run`
scenarios (create-thread-and-run, windowed: load_window.py) one assistant per engine process, made
before its warm-up. The `store` scenario runs store_cpu.py in a fresh process on the proxy core.

`engine-pg2` (and `engine-pg`), `run` scenarios only: engine replicas (`Replicas`: two, or one) on a
fresh database of one throwaway PostgreSQL server, all on the proxy core. The server
(documents_stack.postgres: tests/postgres.py's, its processes pinned to the proxy core, so the load
core stays the load client's and the upstream's) starts on first use and stops in `close()`; each
measurement gets a fresh copy of its migrated template. The load is split as a load balancer would:
worker i to replica i % n (the warm-up: stream i). One assistant, made through the first replica
(the database is shared, so every replica serves it), one tenant key. The proxy's CPU is the
replicas' summed; PostgreSQL's (postmaster and children) is read over the same window, apart.
`engine-pg2-baseline` is the same from `--baseline DIR`, on a database DIR's replicas migrate.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import uvloop

from tests.bench.documents_stack import Postgres, postgres
from tests.bench.engine_setup import assistant_sync, prepare_sync, tenant_key
from tests.bench.load import LoadResult, LoadSpec, run_load
from tests.bench.load_window import run_window
from tests.bench.nginx import Nginx
from tests.bench.proc_stats import cpu_ns
from tests.bench.procs import LOAD_CORE, PROXY_CORE, ROOT, Server
from tests.bench.report import run_metrics
from tests.bench.scenarios import BASELINES, ENGINES, REPLICAS, Scenario, thread_run_body, warmup, warmup_spec

SETTLE_S = 2.0  # a fresh interpreter burns extra CPU for its first seconds (lazy imports, page faults)
IDLE_S = 0.5
SETUP_PAUSE_S = 0.3  # after the engine's set-up, before its idle CPU is read
IMPORTED = "bench serve: gateway imported from "
# The `run` scenarios leave runs going on in the engine when the window closes (runs outlive their
# client by design); the process is stopped right after, without waiting for them.
RUN_ENGINE_ENV = {"DRAIN_SECONDS": "1"}


class Replicas:
    """Engine processes on one PostgreSQL database, as behind a load balancer (the `engine-pg*`
    targets). `url` and `pid` are the first replica's (the set-up goes through it); `postmaster` is
    the database server's, whose CPU is read apart."""

    def __init__(self, servers: list[Server], postmaster: int) -> None:
        self.servers = servers
        self.postmaster = postmaster
        self.url, self.pid = servers[0].url, servers[0].pid
        self.urls = tuple(s.url for s in servers)
        self.pids = tuple(s.pid for s in servers)
        self.started = max(s.started for s in servers)  # the last one's start: all settle after it

    def log_tail(self, lines: int = 5) -> str:
        return "\n".join(f"[{s.log_path.name}]\n{s.log_tail(lines)}" for s in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


Proxy = Server | Nginx | Replicas


def pids(proxy: Proxy) -> tuple[int, ...]:
    """Every process whose CPU is the target's (the replicas', for `Replicas`)."""
    return proxy.pids if isinstance(proxy, Replicas) else (proxy.pid,)


def spread(spec: LoadSpec, proxy: Proxy) -> LoadSpec:
    """`spec` sent to every replica of `proxy` as a load balancer would: in a window worker i to replica
    i % n, otherwise (the warm-up) stream i; with its /metrics at each, the other replicas' pids and
    the database server's. Unchanged, but for /metrics, for a single process."""
    if not isinstance(proxy, Replicas):
        return replace(spec, metrics_urls=(f"{proxy.url}/metrics",) if spec.window_s else ())
    endpoints = tuple(spec.url.replace(proxy.url, url, 1) for url in proxy.urls)
    if spec.window_s:
        metrics = tuple(f"{url}/metrics" for url in proxy.urls)
        spec = replace(spec, replicas=endpoints, metrics_urls=metrics)
    else:
        streams = spec.concurrency * spec.streams_per_worker
        spec = replace(spec, urls=tuple(endpoints[i % len(endpoints)] for i in range(streams)))
    return replace(spec, extra_pids=proxy.pids[1:], db_pid=proxy.postmaster)


def imported_from(server: Server) -> Path:
    """Where the server process imported `gateway` from (serve.py prints it before serving)."""
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith(IMPORTED):
            return Path(line[len(IMPORTED) :].strip()).resolve()
    raise RuntimeError(f"{server.kind} did not say where it imported gateway from; see {server.log_path}")


class Bench:
    def __init__(
        self, reuse: bool, log_dir: Path, baseline: Path | None = None, baseline_python: Path | None = None
    ) -> None:
        self.reuse = reuse  # --quick: processes kept across scenarios, shorter pauses
        self.idle_s, self.gap_s = (0.2, 0.1) if reuse else (IDLE_S, 0.3)
        self.log_dir = log_dir
        self.baseline = baseline
        self.baseline_python = baseline_python
        self.upstream = Server("upstream", LOAD_CORE, log_dir=log_dir)
        self.kept: dict[str, Proxy] = {}
        self.files = 0
        self.assistants: dict[int, tuple[str, str]] = {}  # engine pid -> (Bearer key, assistant id)
        self.pg: Postgres | None = None  # the engine-pg* targets' server, started on first use
        self._pg_stack = contextlib.ExitStack()

    def _fresh(self, stem: str) -> Path:
        self.files += 1
        return self.log_dir / f"{stem}-{self.files}.db"

    def _postgres(self) -> Postgres:
        """The throwaway PostgreSQL server, pinned to the proxy core: started on first use, stopped in
        close() (its template is migrated once; each measurement copies it)."""
        if self.pg is None:
            self.pg = self._pg_stack.enter_context(postgres())
        return self.pg

    def _replicas(self, target: str, env: dict[str, str]) -> Replicas:
        """`REPLICAS[target]` engine processes on the proxy core over a fresh migrated database: this
        checkout's template copied, or for the baseline an empty one its replicas migrate as they start
        (DIR's migrations; `migrate` takes an advisory lock, so they take turns)."""
        from tests.postgres import fresh_pg_db  # imports pytest and the store: only when wanted

        pg = self._postgres()
        baseline = target in BASELINES
        db = asyncio.run(fresh_pg_db(pg.server, migrated=not baseline))
        engine = {"BENCH_BACKEND": "engine", "BACKEND": "engine", "DATABASE_URL": db, **env}
        if baseline:
            engine["MIGRATE_ON_START"] = "true"
        servers: list[Server] = []
        try:
            for i in range(REPLICAS[target]):
                servers.append(self._gateway(engine, f"{target}-{i}", baseline=baseline))
        except BaseException:
            for server in servers:
                server.stop()
            raise
        return Replicas(servers, pg.postmaster)

    def _start(self, target: str, env: dict[str, str]) -> Proxy:
        up, logs = self.upstream.url, self.log_dir
        bridge = {"BENCH_BACKEND": "assistants", "BACKEND": "assistants", **env}
        if target in ("naive", "naive-chat"):
            return Server("naive", PROXY_CORE, up, logs, env, name=target)
        if target in ("floor-asgi", "floor-proto"):
            return Server(target, PROXY_CORE, up, logs, env)
        if target == "gateway":
            return Server("gateway", PROXY_CORE, up, logs, bridge)
        if target in REPLICAS:
            return self._replicas(target, env)
        if target in ENGINES:
            db = f"sqlite:///{self._fresh(target)}"
            engine = {"BENCH_BACKEND": "engine", "BACKEND": "engine", "DATABASE_URL": db, **env}
            if target == "engine" or self.baseline is not None:
                return self._gateway(engine, target, baseline=target != "engine")
        if target == "nginx":
            return Nginx(PROXY_CORE, up, logs)
        if target == "baseline" and self.baseline is not None:
            return self._gateway(bridge, target, baseline=True)
        raise ValueError(f"no process for target {target!r}")

    def _gateway(self, env: dict[str, str], name: str, *, baseline: bool = False) -> Server:
        """A gateway process on the proxy core: this checkout's, or with `baseline` the `--baseline DIR`
        checkout's, once it is sure it imported that checkout's `gateway`."""
        up, logs = self.upstream.url, self.log_dir
        if not baseline:
            return Server("gateway", PROXY_CORE, up, logs, env, name=name)
        assert self.baseline is not None
        server = Server(
            "gateway",
            PROXY_CORE,
            up,
            logs,
            env,
            name=name,
            checkout=self.baseline,
            python=self.baseline_python,
        )
        found = imported_from(server)
        if not found.is_relative_to(self.baseline):
            server.stop()
            raise RuntimeError(f"{name} imported gateway from {found}, not from {self.baseline}")
        return server

    def proxy(self, target: str, env: dict[str, str] | None = None) -> Proxy:
        if self.reuse and target in self.kept:
            return self.kept[target]
        server = self._start(target, env or {})
        if self.reuse:
            self.kept[target] = server
        return server

    def load(self, spec: LoadSpec) -> LoadResult:
        gc.collect()
        return uvloop.run(run_window(spec) if spec.window_s else run_load(spec))

    def engine_spec(self, spec: LoadSpec, sc: Scenario, url: str) -> LoadSpec:
        """The engine's assistant and one thread per stream, made now (not timed), in `spec`."""
        key = tenant_key()
        body, urls, took = prepare_sync(url, key, sc.shape.thread_id(), sc.streams)
        if sc.name != "warm":
            print(f"  engine set-up (not timed): {len(urls)} threads in {took:.1f} s", file=sys.stderr)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return replace(spec, body=body, urls=urls, headers=headers)

    def thread_run_spec(self, spec: LoadSpec, sc: Scenario, proxy: Proxy) -> LoadSpec:
        """The `run` family on the engine: every request a create-thread-and-run for the process's one
        assistant (made on first use, not timed; replicas: through the first one) under its own tenant
        key, spread over the replicas if there are several; /metrics for the window."""
        if proxy.pid not in self.assistants:
            key = tenant_key()
            self.assistants[proxy.pid] = key, assistant_sync(proxy.url, key)
        key, assistant = self.assistants[proxy.pid]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = thread_run_body(assistant, sc.shape.thread_id())
        return spread(replace(spec, body=body, headers=headers), proxy)

    def measure(self, sc: Scenario, target: str) -> tuple[LoadResult, dict[str, Any]]:
        if sc.kind == "store":
            return LoadResult(), self.store(sc)
        runs = sc.family == "run" and target in ENGINES
        proxy = self.proxy(target, RUN_ENGINE_ENV if runs else None) if target != "direct" else None
        try:
            url = proxy.url if proxy else self.upstream.url
            warm_spec = warmup_spec(target, url, sc.family)
            if runs and proxy is not None:
                warm_spec = self.thread_run_spec(warm_spec, warmup(sc.family), proxy)
            elif target in ENGINES:
                warm_spec = self.engine_spec(warm_spec, warmup(sc.family), url)
            warm = self.load(warm_spec)
            if warm.errors:
                print(f"  warm-up errors on {target}: {dict(warm.errors)}", file=sys.stderr)
            spec = replace(
                sc.spec(target, url), proxy_pid=proxy.pid if proxy else None, upstream_pid=self.upstream.pid
            )
            pause = 0.0
            if runs and proxy is not None:
                spec, pause = self.thread_run_spec(spec, sc, proxy), SETUP_PAUSE_S
            elif target in ENGINES:
                spec, pause = self.engine_spec(spec, sc, url), SETUP_PAUSE_S
            idle = None
            if proxy is not None:  # let start-up (and set-up) work die down, then read the idle CPU rate
                time.sleep(max(SETTLE_S - (time.monotonic() - proxy.started), pause))
                before = sum(map(cpu_ns, pids(proxy)))
                time.sleep(self.idle_s)
                idle = (sum(map(cpu_ns, pids(proxy))) - before) / 1e6 / self.idle_s
            res = self.load(spec)
            if res.errors and proxy is not None:
                print(f"  {target} log tail:\n{proxy.log_tail()}", file=sys.stderr)
        finally:
            if proxy is not None and not self.reuse:
                proxy.stop()
        time.sleep(self.gap_s)
        metrics = run_metrics(sc, target, res)
        metrics["idle_ms_s"] = idle
        return res, metrics

    def store(self, sc: Scenario) -> dict[str, Any]:
        """The store scenario: store_cpu.py in a fresh process on the proxy core; its JSON line."""
        cmd = [sys.executable, "-m", "tests.bench.store_cpu", "--db", str(self._fresh("store"))]
        cmd = ["taskset", "-c", str(PROXY_CORE), *cmd, "--runs", str(sc.frames), "--rounds", str(sc.rounds)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"store_cpu failed ({done.returncode}):\n{done.stderr[-2000:]}")
        metrics: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
        return {**metrics, "errors": 0}

    def close(self) -> None:
        for server in self.kept.values():
            server.stop()
        self.upstream.stop()
        self._pg_stack.close()
