"""Store CPU per run on SQLite: `python -m tests.engine.store.bench [N]` prints milliseconds per run.

One run = create -> in_progress -> reply message + step -> one checkpoint -> message and step completed ->
run completed (6 calls, 6 transactions, 10 statements). CPU is process time (loop and worker threads).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from gateway.engine.store import Store


async def one_run(store: Store, who: str, thread_id: str, assistant_id: str) -> None:
    run = await store.runs.create(who, thread_id, assistant_id)
    await store.runs.transition(who, run["id"], ["queued"], "in_progress")
    msg, step = await store.messages.start(
        who, thread_id=thread_id, run_id=run["id"], assistant_id=assistant_id
    )
    text = [{"type": "text", "text": {"value": "Hello, wor", "annotations": []}}]
    await store.messages.checkpoint(who, msg["id"], text)
    text[0]["text"]["value"] = "Hello, world!"  # type: ignore[index]
    usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    await store.messages.finish(
        who, msg["id"], step["id"], content=text, replay={"reasoning": "r"}, usage=usage
    )
    await store.runs.transition(who, run["id"], ["in_progress"], "completed", usage=usage)


async def bench(url: str, runs: int = 500, rounds: int = 5) -> float:
    """CPU milliseconds per run: the best of `rounds` rounds (the machine is shared), after a warm-up that
    fills SQLAlchemy's statement cache."""
    store = await Store.open(url, migrate=True)
    figures: list[tuple[float, float]] = []
    try:
        a = await store.assistants.create("bench", model="MiniMax-M1")
        t = await store.threads.create("bench", messages=[{"role": "user", "content": "hi"}])
        for _ in range(50):
            await one_run(store, "bench", t["id"], a["id"])
        for _ in range(rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(runs):
                await one_run(store, "bench", t["id"], a["id"])
            figures.append(
                ((time.process_time() - cpu) / runs * 1000, (time.perf_counter() - wall) / runs * 1000)
            )
    finally:
        await store.close()
    cpus = sorted(c for c, _ in figures)
    print(
        f"{rounds} x {runs} runs: {cpus[0]:.2f} ms CPU/run best, {cpus[len(cpus) // 2]:.2f} median; "
        f"{min(w for _, w in figures):.2f} ms wall/run best"
    )
    return cpus[0]


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(bench(f"sqlite:///{Path(d) / 'bench.db'}", n))
