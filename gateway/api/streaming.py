"""An ASGI response that streams SSE: keep-alive pings while upstream is silent, and the producer
stopped the moment the client leaves (its `finally` blocks then close the upstream request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import anyio
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
    """Runs `produce(write, handle)`. Besides it, one task per stream (never per event) watches for
    the client leaving and sends `: ping` after `keepalive` seconds without a write."""

    def __init__(self, produce: Producer, handle: StreamHandle, metrics: Metrics, keepalive: float) -> None:
        self._produce = produce
        self._handle = handle
        self._metrics = metrics
        self._keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lock = asyncio.Lock()  # the producer and the pinger never interleave a send
        last_write = time.monotonic()
        first = True
        metrics = self._metrics
        started = scope.get("state", {}).get("started", last_write)  # the request's arrival

        async def write(chunk: bytes) -> None:
            nonlocal last_write, first
            async with lock:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            last_write = time.monotonic()
            if first:
                first = False
                metrics.first_event.observe(last_write - started)

        async def watch(group: anyio.abc.TaskGroup) -> None:
            nonlocal last_write
            while True:
                wait = self._keepalive - (time.monotonic() - last_write) if self._keepalive else None
                with anyio.move_on_after(wait):
                    if (await receive())["type"] == "http.disconnect":
                        group.cancel_scope.cancel()
                        return
                    continue
                async with lock:
                    await send({"type": "http.response.body", "body": PING, "more_body": True})
                last_write = time.monotonic()

        metrics.open_streams.inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            async with anyio.create_task_group() as group:
                group.start_soon(watch, group)
                try:
                    await self._produce(write, self._handle)
                    async with lock:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    pass  # the client went away mid-send
                group.cancel_scope.cancel()
        finally:
            self._handle.close()
            metrics.open_streams.dec()
