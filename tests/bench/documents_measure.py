"""The documents benchmark's measurements, each against a fresh gateway process (core 0) over one
database, driven from this process (core 1).

- `ingest`: a file uploaded, then timed from `vector_stores.files.create` to `completed`.
- `upload`: `files.create` of a large file, streamed, with the gateway's RSS growth meanwhile.
- `store_and_search`: a store of many documents built by one file batch (timed to `completed`), then
  searched sequentially, hybrid on that gateway (it has EMBEDDINGS_URL), keyword-only on a second
  gateway without it, over the same database.

Every span reads the gateway's CPU (its process CPU clock, all threads), its peak RSS (`Peak`), its
wall time, and on PostgreSQL the database server's CPU. A gateway is left idle until `SETTLE` s after
its start before a span (a new interpreter burns extra CPU at first), and its idle CPU rate is read
over the last second of that wait.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.bench.documents_client import Client, static
from tests.bench.documents_stack import CLIENT_KEY, Peak, chunk_count, start_gateway
from tests.bench.proc_stats import cpu_ns, tree_cpu_ns
from tests.bench.procs import Server
from tests.bench.report import pct

SETTLE = 3.0  # seconds after a gateway's start before a span begins (`--quick`: 1.5)
WARM_SEARCHES = 10
MIB = 1 << 20

Metrics = dict[str, Any]


@dataclass
class Env:
    """One database and where the processes run."""

    name: str  # SQLite, PostgreSQL
    emulator: str
    database_url: str
    log_dir: Path
    postmaster: int | None = None  # PostgreSQL's server, whose CPU is read too
    settle: float = SETTLE

    def gateway(self, *, embeddings: bool, name: str) -> Server:
        tag = f"{self.name.lower()}-{name}"
        return start_gateway(self.emulator, self.database_url, self.log_dir, embeddings=embeddings, name=tag)

    def db_cpu_ns(self) -> int:
        return 0 if self.postmaster is None else tree_cpu_ns(self.postmaster)


def settle(env: Env, server: Server) -> float:
    """Wait until `env.settle` s after the start; the idle CPU over the last second, ms/s."""
    time.sleep(max(0.0, server.started + env.settle - 1.0 - time.monotonic()))
    before = cpu_ns(server.pid)
    time.sleep(1.0)
    return (cpu_ns(server.pid) - before) / 1e6


class Span:
    """`with Span(env, server) as span:` ... `span.metrics`: seconds, gateway CPU, PostgreSQL CPU, RSS."""

    def __init__(self, env: Env, server: Server) -> None:
        self.env = env
        self.pid = server.pid
        self.peak = Peak(server.pid)
        self.metrics: Metrics = {}

    def __enter__(self) -> Span:
        self.peak.__enter__()
        self._db0 = self.env.db_cpu_ns()
        self._cpu0 = cpu_ns(self.pid)
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = time.monotonic() - self._t0
        cpu = cpu_ns(self.pid) - self._cpu0
        db = self.env.db_cpu_ns() - self._db0
        self.peak.__exit__()
        self.metrics = {
            "seconds": seconds,
            "cpu_s": cpu / 1e9,
            "db_cpu_s": db / 1e9 if self.env.postmaster else None,
            "rss_base_mib": self.peak.base_kb / 1024,
            "rss_peak_mib": self.peak.kb / 1024,
            "rss_growth_mib": (self.peak.kb - self.peak.base_kb) / 1024,
        }


def ingest(env: Env, path: Path, filename: str, *, embeddings: bool, name: str) -> Metrics:
    """One file into an empty store (auto chunking, 800/400), timed from attach to `completed`."""
    server = env.gateway(embeddings=embeddings, name=name)
    client = Client(server.url, CLIENT_KEY)
    try:
        file_id = client.upload(path, filename)
        store_id = client.create_store(name)
        idle = settle(env, server)
        with Span(env, server) as span:
            client.attach(store_id, file_id)
            done = client.wait_file(store_id, file_id)
        chunks = chunk_count(env.database_url, store_id)
    finally:
        client.close()
        server.stop()
    m = span.metrics
    m.update(
        idle_ms_s=idle, chunks=chunks, chunks_s=chunks / m["seconds"], usage_mib=done["usage_bytes"] / MIB
    )
    return m


def upload(env: Env, path: Path) -> Metrics:
    """`files.create` of the file at `path` after a 1 MiB warm-up upload; the file is deleted after."""
    server = env.gateway(embeddings=False, name="upload")
    client = Client(server.url, CLIENT_KEY)
    warm = path.with_name("warm-up.bin")
    try:
        with path.open("rb") as f:
            warm.write_bytes(f.read(MIB))
        client.delete_file(client.upload(warm))
        idle = settle(env, server)
        with Span(env, server) as span:
            file_id = client.upload(path)
        client.delete_file(file_id)
    finally:
        warm.unlink(missing_ok=True)
        client.close()
        server.stop()
    m = span.metrics
    m.update(idle_ms_s=idle, mib=path.stat().st_size / MIB, mib_s=path.stat().st_size / MIB / m["seconds"])
    return m


def store_and_search(env: Env, docs: list[Path], queries: list[str], chunking: tuple[int, int]) -> Metrics:
    """Build the store with one file batch (embeddings on), then search it hybrid and keyword-only."""
    out: Metrics = {}
    server = env.gateway(embeddings=True, name="store-hybrid")
    client = Client(server.url, CLIENT_KEY)
    try:
        started = time.monotonic()
        file_ids = [client.upload(doc) for doc in docs]
        uploaded = time.monotonic() - started
        store_id = client.create_store("search")
        idle = settle(env, server)
        with Span(env, server) as span:
            batch_id = client.batch(store_id, file_ids, static(*chunking))
            client.wait_batch(store_id, batch_id)
        chunks = chunk_count(env.database_url, store_id)
        out["store"] = span.metrics
        out["store"].update(
            idle_ms_s=idle,
            files=len(docs),
            upload_s=uploaded,
            chunks=chunks,
            chunks_s=chunks / span.metrics["seconds"],
        )
        out["hybrid"] = searches(env, server, client, store_id, queries)
    finally:
        client.close()
        server.stop()
    server = env.gateway(embeddings=False, name="keyword")
    client = Client(server.url, CLIENT_KEY)
    try:
        settle(env, server)
        out["keyword"] = searches(env, server, client, store_id, queries)
        out["rounds"] = search_rounds(server, client, store_id, queries[:SEARCH_RUNS])
    finally:
        client.close()
        server.stop()
    return out


def searches(env: Env, server: Server, client: Client, store_id: str, queries: list[str]) -> Metrics:
    """The first search after the start (cold), WARM_SEARCHES unmeasured, then every query once in
    order, one at a time, each timed from the request sent to the response read."""
    t0 = time.perf_counter()
    client.search(store_id, queries[0])
    first = time.perf_counter() - t0
    for query in queries[1 : 1 + WARM_SEARCHES]:
        client.search(store_id, query)
    latencies: list[float] = []
    empty = 0
    db0, cpu0 = env.db_cpu_ns(), cpu_ns(server.pid)
    for query in queries:
        t0 = time.perf_counter()
        found = client.search(store_id, query)
        latencies.append(time.perf_counter() - t0)
        empty += found == 0
    cpu, db = cpu_ns(server.pid) - cpu0, env.db_cpu_ns() - db0
    n = len(queries)
    return {
        "searches": n,
        "first_ms": first * 1000,
        "p50_ms": (pct(latencies, 0.5) or 0) * 1000,
        "p90_ms": (pct(latencies, 0.9) or 0) * 1000,
        "p99_ms": (pct(latencies, 0.99) or 0) * 1000,
        "max_ms": max(latencies) * 1000,
        "mean_ms": sum(latencies) / n * 1000,
        "cpu_ms": cpu / 1e6 / n,
        "db_cpu_ms": db / 1e6 / n if env.postmaster else None,
        "empty": empty,
    }


SEARCH_RUNS = 100


def search_rounds(server: Server, client: Client, store_id: str, queries: list[str]) -> Metrics:
    """Runs with file_search over the store, one at a time (non-streamed: create-thread-and-run, then
    polled), each a question of `queries`; the gateway's own time per search round, from its
    `gateway_file_search_round_seconds` histogram (the reply calling file_search to the next MiniMax
    request: the search, the step's events and store writes, the history read)."""
    tools = [{"type": "file_search"}]
    resources = {"file_search": {"vector_store_ids": [store_id]}}
    assistant = client.post(
        "/assistants", {"model": "MiniMax-M2.7", "tools": tools, "tool_resources": resources}
    )
    failed = 0
    for query in queries:
        body = {"assistant_id": assistant["id"], "thread": {"messages": [{"role": "user", "content": query}]}}
        run = client.post("/threads/runs", body)
        while run["status"] in ("queued", "in_progress"):
            time.sleep(0.01)
            run = client.get(f"/threads/{run['thread_id']}/runs/{run['id']}")
        failed += run["status"] != "completed"
    text = httpx.get(server.url + "/metrics", timeout=30).text
    buckets, total, count = [], 0.0, 0
    for line in text.splitlines():
        if line.startswith("gateway_file_search_round_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((math.inf if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("gateway_file_search_round_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("gateway_file_search_round_seconds_count"):
            count = int(float(line.rsplit(" ", 1)[1]))
    p99 = next((le for le, n in sorted(buckets) if count and n >= 0.99 * count), math.inf)
    within = next((n for le, n in buckets if le == 0.05), 0.0)
    return {
        "runs": len(queries),
        "failed": failed,
        "rounds": count,
        "mean_ms": total / count * 1000 if count else None,
        "p99_bound_ms": p99 * 1000,
        "within_50_ms": within / count if count else None,
    }
