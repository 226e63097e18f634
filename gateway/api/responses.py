"""What the routes answer with: JSON objects, and run results that may be an event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.context import AppContext
from gateway.backend import RunResult
from gateway.stream.relay import EventSource, relay
from gateway.stream.response import EventStream


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Streaming:
    """A route endpoint that may answer with a stream, called as plain ASGI. Starlette would wrap a
    function endpoint in `request_response`, whose frames and exception-handler closures then stay
    alive for the stream's whole life; errors reach the same handlers through ExceptionMiddleware."""

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[[Request], Awaitable[Any]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


async def run_result(ctx: AppContext, stream: bool | None, call: Callable[[], Awaitable[RunResult]]) -> Any:
    """JSON for a run, or its event stream. A stream takes its place among the open streams first
    (at the limit: a 503 before the backend is asked anything), then waits up to
    `first_event_wait` for the upstream to start: a rejection within it is an HTTP error; past it
    the stream starts, with `: ping` comments until the first event, and a later rejection ends it
    as `thread.run.failed`."""
    if not stream:
        result = await call()
        assert isinstance(result, dict)
        return JSON(result)
    handle = ctx.lifecycle.open_stream()
    source: EventSource | None = None
    try:
        found = await call()
        assert not isinstance(found, dict)
        source = found
        opening = source.opening()
        if not opening.done():
            await asyncio.wait({opening}, timeout=ctx.settings.first_event_wait)
        if opening.done():
            opening.result()
    except BaseException:
        handle.close()
        if source is not None:
            await source.aclose()
        raise
    return EventStream(partial(relay, source, ctx.metrics), handle, ctx.metrics, ctx.keepalive)
