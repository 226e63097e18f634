"""The `store` scenario's process: the engine store's CPU per run on a fresh SQLite file, printed as JSON.

`python -m tests.bench.store_cpu --db PATH --runs N --rounds R` (the bench starts it pinned to the
proxy core; `--url postgresql://...` measures an empty migrated PostgreSQL database instead). One run
makes the store calls the executor makes for a plain streamed reply, in its order and with its
arguments (gateway/engine/backend.py `_run`, executor.py `_open_message`, `_stream`, record.py):
create started (the run in_progress, leased, and the history read: one transaction); the reply's
message + step made in the job's batch, written with the first checkpoint (a reply streaming longer
than CHECKPOINT_INTERVAL gets one per interval; a shorter one writes them with its end); the closing
read's batch: message completed, step completed, run completed (one transaction). Left out: the
lease heartbeat of the sweep (one UPDATE per running run every SWEEP_INTERVAL), and HTTP. Every run
is on its own thread holding one user message, as in the engine scenarios (threads made before the
timing). CPU is this process's CPU time (event loop and the database's worker threads) after a
warm-up of 50 runs that fills SQLAlchemy's caches. The JSON also gives the transactions and
statements of one run, and on PostgreSQL its round trips (counted at the wire: every exchange with the
server, BEGIN, COMMIT and pings included; tests/engine/store/helpers.py `RoundTrips`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import orjson
from sqlalchemy import Engine, event

from gateway.engine.record import ACTIVE
from gateway.engine.store import Store
from tests.engine.store.helpers import RoundTrips, statements

OWNER = "bench:1:store"
TENANT = "bench"
TEXT = "t1732200000.123456|" * 50


async def one_run(store: Store, thread_id: str, assistant_id: str) -> None:
    run, history = await store.runs.create_started(TENANT, thread_id, assistant_id, lease_owner=OWNER)
    assert history
    batch = store.batch()
    message, step = batch.start_reply(
        TENANT, thread_id=thread_id, run_id=run["id"], assistant_id=assistant_id
    )
    content: list[dict[str, Any]] = [{"type": "text", "text": {"value": TEXT[:300], "annotations": []}}]
    batch.checkpoint(message["id"], content)
    await batch.write()
    content = [{"type": "text", "text": {"value": TEXT, "annotations": []}}]
    usage = {"prompt_tokens": 20, "completion_tokens": 55, "total_tokens": 75}
    batch.complete_message(
        message["id"],
        content=content,
        status="completed",
        incomplete_details=None,
        replay={"reasoning": "The bench asks for timestamps; " * 4, "reasoning_details": None},
    )
    batch.complete_step(
        step["id"], status="completed", step_details=step["step_details"], usage=usage, last_error=None
    )
    batch.transition(run["id"], ACTIVE, "completed", close_children=True, usage=usage)
    assert await batch.write()


def _engine(store: Store) -> Engine:
    engine = store.db.engine
    return engine if isinstance(engine, Engine) else engine.sync_engine


async def count(store: Store, thread_id: str, assistant_id: str) -> tuple[int, int, int | None]:
    """(transactions, statements, round trips or None on SQLite) of one run. Counted after the timing:
    the listeners would slow every statement after them (an engine keeps dispatching events once it had
    a listener)."""
    begun = [0]

    def on_begin(*_: Any) -> None:
        begun[0] += 1

    engine = _engine(store)
    event.listen(engine, "begin", on_begin)
    wire = RoundTrips(store) if store.db.postgres else None
    try:
        with statements(store) as seen:
            if wire is None:
                await one_run(store, thread_id, assistant_id)
            else:
                with wire:
                    await one_run(store, thread_id, assistant_id)
    finally:
        event.remove(engine, "begin", on_begin)
        if wire is not None:
            wire.close()
    return begun[0], len(seen), None if wire is None else wire.trips


async def measure(url: str, runs: int, rounds: int) -> dict[str, Any]:
    store = await Store.open(url, migrate=True, pool_size=10, max_overflow=10, lease_ttl=30)
    cpu: list[float] = []
    wall: list[float] = []
    try:
        assistant = await store.assistants.create(TENANT, model="MiniMax-M2.7")
        threads = [
            (await store.threads.create(TENANT, messages=[{"role": "user", "content": "bench"}]))["id"]
            for _ in range(51 + runs * rounds)
        ]
        for thread in threads[:50]:
            await one_run(store, thread, assistant["id"])
        counted = threads.pop()
        for r in range(rounds):
            c, w = time.process_time(), time.perf_counter()
            for thread in threads[50 + r * runs : 50 + (r + 1) * runs]:
                await one_run(store, thread, assistant["id"])
            cpu.append((time.process_time() - c) / runs * 1000)
            wall.append((time.perf_counter() - w) / runs * 1000)
        transactions, statements, trips = await count(store, counted, assistant["id"])
    finally:
        await store.close()
    return {
        "store_runs": f"{rounds} x {runs}",
        "store_cpu_best_ms": min(cpu),
        "store_cpu_median_ms": statistics.median(cpu),
        "store_wall_best_ms": min(wall),
        "store_transactions_per_run": transactions,
        "store_statements_per_run": statements,
        **({} if trips is None else {"store_round_trips_per_run": trips}),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="SQLite file (fresh)")
    where.add_argument("--url", help="or a DATABASE_URL (an empty database; migrated here)")
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    figures = asyncio.run(measure(args.url or f"sqlite:///{args.db}", args.runs, args.rounds))
    print(orjson.dumps(figures).decode(), flush=True)


if __name__ == "__main__":
    main()
