"""An ASGI response that streams SSE: keep-alive pings while upstream is silent, and the producer
stopped the moment the client leaves (its `finally` blocks then close the upstream request)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from gateway.lifecycle import StreamHandle
from gateway.metrics import Metrics
from gateway.stream.relay import Write, WriteNow
from gateway.stream.sse import PING

BODY_SEND = "body_send"
"""Where the request's state (`scope["state"]`) may hold a `send` for body messages after the
response's start that skips the middleware (`gateway.api.middleware`); else `send` is used."""
BODY_WRITE_NOW = "body_write_now"
"""Where it may hold a plain call that writes a body piece (not the last) at once if the server can
take it now: True; False: nothing written (`gateway.body_writes`)."""

Producer = Callable[[Write, StreamHandle, WriteNow | None], Awaitable[None]]

WATCH = "gateway: client watch"  # one name for every watcher task (else each gets its own string)
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx and ingress-nginx: do not buffer this response
]


class Keepalive:
    """Sends `: ping` on streams silent for `interval` seconds: one sweep for the whole app (run by
    its lifespan) instead of a timer per stream, so an idle stream costs a set entry here. A ping
    is late by at most a quarter of the interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._streams: set[_Connection] = set()

    def add(self, conn: _Connection) -> None:
        if self.interval:
            self._streams.add(conn)

    def discard(self, conn: _Connection) -> None:
        self._streams.discard(conn)

    async def run(self) -> None:
        if not self.interval:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval / 4)
            silent_since = loop.time() - self.interval
            for conn in self._streams:
                if conn.last_write <= silent_since:
                    conn.ping()


class EventStream:
    """Runs `produce(write, handle, write_now)` in the request's task. Besides it, one small task per stream
    (never per event) waits for the client to leave, then cancels the producer; `keepalive` pings
    it while it is silent. Plain asyncio and one slotted object per stream: thousands of these sit
    idle at once, so each holds as few objects as it can."""

    def __init__(
        self, produce: Producer, handle: StreamHandle, metrics: Metrics, keepalive: Keepalive
    ) -> None:
        self._produce = produce
        self._handle = handle
        self._metrics = metrics
        self._keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state", {})
        conn = _Connection(
            state.get(BODY_SEND, send), state.get(BODY_WRITE_NOW), self._metrics, state.get("started")
        )
        self._metrics.open_streams.inc()
        watcher: asyncio.Task[None] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            self._keepalive.add(conn)
            watcher = conn.loop.create_task(conn.watch(receive), name=WATCH)
            await self._produce(conn.write, self._handle, None if conn.now is None else conn.write_now)
            if not conn.ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-send
        except asyncio.CancelledError:
            if not conn.gone:
                raise
            conn.producer.uncancel()  # our own cancellation: the client left, the response is over
        finally:
            self._keepalive.discard(conn)
            conn.close(watcher)
            self._handle.close()
            self._metrics.open_streams.dec()


class _Connection:
    """One stream's writer: its writes and pings, and the watch for the client leaving."""

    __slots__ = (
        "ended",
        "first_sent",
        "gone",
        "last_write",
        "loop",
        "metrics",
        "now",
        "pinging",
        "producer",
        "send",
        "started",
    )

    def __init__(self, send: Send, now: WriteNow | None, metrics: Metrics, started: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        producer = asyncio.current_task()
        assert producer is not None
        self.producer = producer
        self.send = send
        self.now = now
        self.metrics = metrics
        self.started = started or time.monotonic()  # the request's arrival, for time-to-first-event
        self.last_write = self.loop.time()  # loop time; `inf` while a write is in progress
        self.first_sent = self.gone = self.ended = False
        self.pinging: asyncio.Task[None] | None = None

    async def write(self, chunk: bytes, last: bool = False) -> None:
        """The producer's write (`Write`): one coroutine on the way to the server, for the stream's
        last piece, its pings, and the pieces `write_now` could not write at once."""
        if self.ended:
            return
        self.ended = last
        self.last_write = math.inf  # a write in progress is no silence: no ping interleaves with it
        try:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": not last})
        finally:
            self.last_write = self.loop.time()
        if not self.first_sent and chunk is not PING:  # a ping is not the stream's first event
            self._first()

    def write_now(self, chunk: bytes) -> bool:
        """`write` in a plain call (`WriteNow`), for a piece that is not the last: True once written;
        False when it must go through `write` (nothing written: the server cannot take it at once)."""
        if self.ended or self.now is None or not self.now(chunk):
            return False
        self.last_write = self.loop.time()
        if not self.first_sent:
            self._first()
        return True

    def _first(self) -> None:
        self.first_sent = True
        self.metrics.first_event.observe(time.monotonic() - self.started)

    async def watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.producer.cancel()

    def ping(self) -> None:
        if self.pinging is None or self.pinging.done():
            self.pinging = self.loop.create_task(self.write(PING))

    def close(self, watcher: asyncio.Task[None] | None) -> None:
        for pending in (watcher, self.pinging):
            if pending is not None:
                pending.cancel()
