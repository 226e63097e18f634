"""A few threads that run blocking calls for the event loop, one queue hop each way.

`run_in_executor` costs about twice as much CPU per call (concurrent.futures wrapping and chaining); the
SQLite store makes one such call per transaction, so the hop is a good part of its CPU per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Give `fut` its outcome, unless it already has one (its waiter was cancelled)."""
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class Workers:
    """Up to `size` daemon threads, started as the backlog needs them. A call whose awaiting task is
    cancelled still runs to its end in its thread (a transaction commits or rolls back as a whole)."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0  # calls queued or running
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._busy += 1
            if self._busy > len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put((fn, loop, fut))
        return await fut

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, fut = job
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the awaiting task, which re-raises it
                result, error = None, exc
            with self._lock:
                self._busy -= 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(settle, fut, result, error)

    def shutdown(self) -> None:
        """Let queued calls finish, then stop the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
