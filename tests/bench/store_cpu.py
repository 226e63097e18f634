"""The `store` scenario's process: the engine store's CPU per run on a fresh SQLite file, printed as JSON.

`python -m tests.bench.store_cpu --db PATH --runs N --rounds R` (the bench starts it pinned to the
proxy core). One run makes the store calls the executor makes for a plain streamed reply, in its
order and with its arguments (gateway/engine/backend.py `_run`, executor.py `_open`, `_execute`,
`_open_message`, `_record`): create (queued, leased), history read, queued -> in_progress, reply
message + step, one checkpoint (a reply streaming longer than CHECKPOINT_INTERVAL gets one per
interval), message completed, step completed, run completed. Left out: the lease heartbeat of the
sweep (one UPDATE per running run every SWEEP_INTERVAL), and HTTP. Every run is on its own thread
holding one user message, as in the engine scenarios (threads made before the timing). CPU is this
process's CPU time (event loop and the database's worker threads) after a warm-up of 50 runs that
fills SQLAlchemy's caches.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import orjson

from gateway.engine.executor import ACTIVE
from gateway.engine.store import Store

OWNER = "bench:1:store"
TENANT = "bench"
TEXT = "t1732200000.123456|" * 50


async def one_run(store: Store, thread_id: str, assistant_id: str) -> None:
    run = await store.runs.create(TENANT, thread_id, assistant_id, lease_owner=OWNER)
    await store.history(TENANT, thread_id)
    await store.runs.transition(None, run["id"], ("queued",), "in_progress")
    message, step = await store.messages.start(
        TENANT, thread_id=thread_id, run_id=run["id"], assistant_id=assistant_id
    )
    content: list[dict[str, Any]] = [{"type": "text", "text": {"value": TEXT[:300], "annotations": []}}]
    await store.messages.checkpoint(None, message["id"], content)
    content[0]["text"]["value"] = TEXT
    usage = {"prompt_tokens": 20, "completion_tokens": 55, "total_tokens": 75}
    await store.messages.complete(
        None,
        message["id"],
        content=content,
        status="completed",
        incomplete_details=None,
        replay={"reasoning": "The bench asks for timestamps; " * 4, "reasoning_details": None},
    )
    await store.steps.complete(
        None, step["id"], status="completed", step_details=step["step_details"], usage=usage, last_error=None
    )
    await store.runs.transition(None, run["id"], ACTIVE, "completed", close_children=True, usage=usage)


async def measure(db: str, runs: int, rounds: int) -> dict[str, Any]:
    store = await Store.open(f"sqlite:///{db}", migrate=True, pool_size=10, max_overflow=10, lease_ttl=30)
    cpu: list[float] = []
    wall: list[float] = []
    try:
        assistant = await store.assistants.create(TENANT, model="MiniMax-M2.7")
        threads = [
            (await store.threads.create(TENANT, messages=[{"role": "user", "content": "bench"}]))["id"]
            for _ in range(50 + runs * rounds)
        ]
        for thread in threads[:50]:
            await one_run(store, thread, assistant["id"])
        for r in range(rounds):
            c, w = time.process_time(), time.perf_counter()
            for thread in threads[50 + r * runs : 50 + (r + 1) * runs]:
                await one_run(store, thread, assistant["id"])
            cpu.append((time.process_time() - c) / runs * 1000)
            wall.append((time.perf_counter() - w) / runs * 1000)
    finally:
        await store.close()
    return {
        "store_runs": f"{rounds} x {runs}",
        "store_cpu_best_ms": min(cpu),
        "store_cpu_median_ms": statistics.median(cpu),
        "store_wall_best_ms": min(wall),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, help="SQLite file (fresh)")
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    print(orjson.dumps(asyncio.run(measure(args.db, args.runs, args.rounds))).decode(), flush=True)


if __name__ == "__main__":
    main()
