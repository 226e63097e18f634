"""The process's serving state: open streams (and their limit), draining on shutdown, readiness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import anyio

from gateway.errors import GatewayError


class Overloaded(GatewayError):
    status = 503
    type = "server_error"
    code = "overloaded"
    reached_upstream = False

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class StreamHandle:
    """One open stream, served by the task that opened it. A drain `stop()`s it: `stopped` is set
    and, while the relay is reading (`relaying`), the task is cancelled; the relay then ends the
    run as failed. (Plain asyncio, no cancel scope: an idle stream should hold as little as possible.)"""

    __slots__ = ("_lifecycle", "_task", "relaying", "stopped")

    def __init__(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle
        self._task = asyncio.current_task()
        self.stopped = False
        self.relaying = False

    def stop(self) -> None:
        self.stopped = True
        if self.relaying and self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self._lifecycle._streams.discard(self)


class Lifecycle:
    """Draining starts on SIGTERM: readiness fails, new requests are refused, open streams get
    `drain(seconds)` to end on their own and are then stopped (each ends with a terminal event)."""

    def __init__(
        self, max_streams: int, ready_check: Callable[[], Awaitable[bool]], ready_ttl: float
    ) -> None:
        self.max_streams = max_streams
        self.draining = False
        self._streams: set[StreamHandle] = set()
        self._ready_check = ready_check
        self._ready_ttl = ready_ttl
        self._ready_at = -float("inf")  # when the cached upstream check was made
        self._ready = False

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def open_stream(self) -> StreamHandle:
        """Register a stream, or raise `Overloaded` (503) at the limit or while draining."""
        if self.draining:
            raise Overloaded("The gateway is shutting down; retry on another instance")
        if len(self._streams) >= self.max_streams:
            raise Overloaded(f"Too many open streams on this instance ({self.max_streams}); retry shortly")
        handle = StreamHandle(self)
        self._streams.add(handle)
        return handle

    def begin_drain(self) -> None:
        self.draining = True

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for open streams to end, then stop the rest and wait for them."""
        self.begin_drain()
        with anyio.move_on_after(seconds):
            while self._streams:
                await anyio.sleep(0.05)
        for handle in list(self._streams):
            handle.stop()
        with anyio.move_on_after(5):
            while self._streams:
                await anyio.sleep(0.01)

    async def ready(self) -> bool:
        """Not draining, and the upstream answered a check within the last `ready_ttl` seconds."""
        if self.draining:
            return False
        now = time.monotonic()
        if now - self._ready_at >= self._ready_ttl:
            self._ready = await self._ready_check()
            self._ready_at = now
        return self._ready
