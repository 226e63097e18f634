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
from gateway.engine.store import StoreUnavailable, write_together

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
        """Save every run's grown reply and waiting creations, all in one store write (`write_together`:
        one body, each statement once for all runs). If that write fails, each run's batch is written on
        its own (one bad row does not hold up the others' checkpoints); a failed one is logged, and the
        run's next write, or the next tick, carries what still waits."""
        saved, self._saved = self._saved, {}
        jobs: list[tuple[str, Job]] = []
        grown: dict[str, tuple[str, Any]] = {}  # run id -> (message id, content) checkpointed now
        for run_id, job in list(self._jobs.items()):
            message = job.emitter.message
            if message is not None and not job.emitter.terminal:
                content = message.content()
                if saved.get(run_id) != content:
                    job.batch.checkpoint(message.id, content)
                    grown[run_id] = message.id, content
                self._saved[run_id] = content
            if len(job.batch):
                jobs.append((run_id, job))
        together = [(run_id, job) for run_id, job in jobs if not job.batch.guarded]
        if together:
            try:
                await write_together([job.batch for _, job in together])
            except StoreUnavailable:  # no write can go now: the next tick saves the text again
                log.warning("checkpoint tick not written: the store is unavailable")
                for run_id, _ in together:
                    self._saved.pop(run_id, None)
                return
            except Exception:
                log.debug("checkpoint tick: the joint write failed; each run's on its own", exc_info=True)
                for run_id, job in together:
                    if run_id in grown:
                        job.batch.checkpoint(*grown[run_id])
            else:
                jobs = [(run_id, job) for run_id, job in jobs if job.batch.guarded]
        if not jobs:
            return
        outcomes = await asyncio.gather(*(job.batch.write() for _, job in jobs), return_exceptions=True)
        for (run_id, _), outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._saved.pop(run_id, None)  # the text is saved again at the next tick
                if not isinstance(outcome, asyncio.CancelledError):
                    log.warning("checkpoint of run %s not written: %s", run_id, type(outcome).__name__)
