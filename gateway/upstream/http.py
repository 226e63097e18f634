"""The one upstream connection pool (aiohttp for streams, httpx on top of it for REST calls), and
the one retry policy for calls to MiniMax."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import anyio
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.errors import GatewayError
from gateway.metrics import Metrics
from gateway.settings import Settings

T = TypeVar("T")
LARGE_BODY = 1 << 20  # aiohttp writes bytes above this in one call, and warns that it may stall the loop


def post_body(data: bytes) -> bytes | io.BytesIO:
    """What to hand aiohttp as a request body: bytes, or above `LARGE_BODY` a fresh file object it
    sends in pieces (a new one per attempt: a retry must send the whole body again)."""
    return io.BytesIO(data) if len(data) > LARGE_BODY else data


async def retrying(
    send: Callable[[], Awaitable[T]],
    failures: tuple[type[Exception], ...],
    to_error: Callable[[Any], GatewayError],
    *,
    retries: int,
    metrics: Metrics,
) -> T:
    """Run `send`, retrying (with backoff) only failures where nothing reached MiniMax: never a
    duplicate. `to_error` maps the client library's exception."""
    for attempt in range(retries + 1):
        try:
            return await send()
        except failures as exc:
            error = to_error(exc)
            if error.reached_upstream or attempt == retries:
                metrics.upstream_errors.labels(code=type(exc).__name__).inc()
                raise error from None
            await anyio.sleep(0.1 * 3**attempt)
    raise AssertionError("unreachable")


@asynccontextmanager
async def upstream_http(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, aiohttp.ClientSession]]:
    """One aiohttp connection pool: streams read it directly, REST calls go through httpx on top of
    it (httpx's own transport costs several times more CPU per read). The pool limit is explicit:
    aiohttp defaults to 100 connections, which would queue stream 101."""
    connector = aiohttp.TCPConnector(limit=settings.max_connections, limit_per_host=0)
    # Reads of up to 256 KiB: a cumulative MiniMax sends frames of hundreds of KB, which aiohttp's
    # default (64 KiB, pausing the socket at twice that) takes in many paused and resumed pieces.
    # Higher would let a slow client's stream hold more here before the upstream is paused.
    session = aiohttp.ClientSession(connector=connector, read_bufsize=2**18)
    async with httpx.AsyncClient(transport=AiohttpTransport(client=session)) as http:  # closes `session`
        yield http, session
