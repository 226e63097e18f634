"""The process's checkpoint tick: one clock for every run streaming here, not a timer per run.

Every `CHECKPOINT_INTERVAL` seconds each run executing in this process saves the text its open reply has
grown to since the last tick, and writes the creations still waiting in its batch (a message or step
opened but not yet stored: see `Batch`). The runs' writes are queued in the same turn of the event loop,
so the store's group commit (`store/group.py`) makes them one transaction: the number of checkpoint
transactions follows the ticks, not the number of streams. Another reader sees a streaming reply at
most one interval (and a commit) behind.

A run's own writes (a message or step closed, `requires_action`, its end) are made by its task as
before; queued after a tick's, they commit after it, so a checkpoint never lands on a closed message
(its UPDATE only touches a message still `in_progress` anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from gateway.engine.job import Job

log = logging.getLogger("gateway.engine")


class Checkpoints:
    """Ticks over `jobs` (the executor's runs in this process, by id) every `interval` seconds."""

    def __init__(self, jobs: Mapping[str, Job], interval: float) -> None:
        self._jobs = jobs
        self._interval = interval
        self._saved: dict[str, Any] = {}  # run id -> the reply content last saved (what the tick compares)

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            await self.tick()

    async def tick(self) -> None:
        """Save every run's grown reply and waiting creations: one store write per run with anything
        to write, all queued at once (one transaction with group commit). A failed write is logged; the
        run's next write, or the next tick, carries what still waits."""
        saved, self._saved = self._saved, {}
        runs: list[str] = []
        writes = []
        for run_id, job in list(self._jobs.items()):
            message = job.emitter.message
            if message is not None and not job.emitter.terminal:
                content = message.content()
                if saved.get(run_id) != content:
                    job.batch.checkpoint(message.id, content)
                self._saved[run_id] = content
            if len(job.batch):
                runs.append(run_id)
                writes.append(job.batch.write())
        if not writes:
            return
        for run_id, outcome in zip(runs, await asyncio.gather(*writes, return_exceptions=True), strict=True):
            if isinstance(outcome, BaseException):
                self._saved.pop(run_id, None)  # the text is saved again at the next tick
                if not isinstance(outcome, asyncio.CancelledError):
                    log.warning("checkpoint of run %s not written: %s", run_id, type(outcome).__name__)
