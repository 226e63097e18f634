"""An ASGI response that streams SSE: keep-alive pings while upstream is silent, and the producer
stopped the moment the client leaves (its `finally` blocks then close the upstream request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from gateway.lifecycle import StreamHandle
from gateway.metrics import Metrics
from gateway.sse import PING

Write = Callable[[bytes], Awaitable[None]]
Producer = Callable[[Write, StreamHandle], Awaitable[None]]

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx and ingress-nginx: do not buffer this response
]


class EventStream:
    """Runs `produce(write, handle)` in the request's task. Besides it, one small task per stream
    (never per event) waits for the client to leave, then cancels the producer, and a timer sends
    `: ping` after `keepalive` seconds without a write. Plain asyncio and one slotted object per
    stream: thousands of these sit idle at once, so each holds as few objects as it can."""

    def __init__(self, produce: Producer, handle: StreamHandle, metrics: Metrics, keepalive: float) -> None:
        self._produce = produce
        self._handle = handle
        self._metrics = metrics
        self._keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = _Connection(send, self._metrics, self._keepalive, scope.get("state", {}).get("started"))
        self._metrics.open_streams.inc()
        watcher: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            watcher = conn.loop.create_task(conn.watch(receive))
            await self._produce(conn.write, self._handle)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-send
        except asyncio.CancelledError:
            if not conn.gone:
                raise
            conn.producer.uncancel()  # our own cancellation: the client left, the response is over
        finally:
            conn.close(watcher)
            self._handle.close()
            self._metrics.open_streams.dec()


class _Connection:
    """One stream's writer: its writes, the keep-alive timer, and the watch for the client leaving."""

    __slots__ = (
        "first_sent",
        "gone",
        "keepalive",
        "last_write",
        "loop",
        "metrics",
        "pinging",
        "producer",
        "send",
        "started",
        "timer",
        "writing",
    )

    def __init__(self, send: Send, metrics: Metrics, keepalive: float, started: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        producer = asyncio.current_task()
        assert producer is not None
        self.producer = producer
        self.send = send
        self.metrics = metrics
        self.keepalive = keepalive
        self.started = started or time.monotonic()  # the request's arrival, for time-to-first-event
        self.last_write = self.loop.time()  # loop time, for the keep-alive deadline
        self.first_sent = self.writing = self.gone = False
        self.pinging: asyncio.Task[None] | None = None
        self.timer = self.loop.call_later(keepalive, self._ping_when_silent) if keepalive else None

    async def write(self, chunk: bytes) -> None:
        self.writing = True
        try:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            self.writing = False
        self.last_write = self.loop.time()
        if not self.first_sent:
            self.first_sent = True
            self.metrics.first_event.observe(time.monotonic() - self.started)

    async def watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.producer.cancel()

    def _ping_when_silent(self) -> None:
        due = self.last_write + self.keepalive
        now = self.loop.time()
        if now >= due - 0.001 and not self.writing and (self.pinging is None or self.pinging.done()):
            self.pinging = self.loop.create_task(self._ping())
            due = now + self.keepalive
        self.timer = self.loop.call_at(due, self._ping_when_silent)

    async def _ping(self) -> None:
        await self.send({"type": "http.response.body", "body": PING, "more_body": True})
        self.last_write = self.loop.time()

    def close(self, watcher: asyncio.Task[None] | None) -> None:
        for pending in (watcher, self.pinging, self.timer):
            if pending is not None:
                pending.cancel()
