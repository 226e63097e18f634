"""Background progression of runs: drives a Progression's changes with pacing in asyncio tasks it owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from gateway.emulator.assistants.faults import Faults
from gateway.emulator.assistants.progression import Change, fail_run, is_final
from gateway.emulator.assistants.records import Store
from gateway.emulator.assistants.shapes import Run
from gateway.emulator.status_codes import standard_message

log = logging.getLogger(__name__)


class Runner:
    """Owns the tasks progressing non-stream runs (and streams whose client went away)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, run: Run, changes: Iterator[Change], faults: Faults | None = None) -> None:
        """Consume `changes` in the background, sleeping `run.pace_s` between them."""
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._drive(run, changes, faults), name=f"run:{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator run task failed", exc_info=task.exception())

    async def _drive(self, run: Run, changes: Iterator[Change], faults: Faults | None) -> None:
        count = 0
        try:
            for change in changes:
                count += 1
                if is_final(change):
                    return
                for name in faults.due(count) if faults else ():
                    if name == "stall" and faults and faults.stall:
                        await asyncio.sleep(faults.stall[1])
                    elif name == "error_frame" and faults and faults.error_frame:
                        fail_run(self._store, run, standard_message(faults.error_frame[1]))
                        return
                await asyncio.sleep(run.pace_s)
        finally:
            getattr(changes, "close", lambda: None)()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Stop every run task (app shutdown)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
