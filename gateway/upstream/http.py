"""The upstream connection pools (`h1.StreamPool` for streamed answers, aiohttp with httpx on top of it
for REST calls), the one retry policy for calls to MiniMax, and the one way to POST a request that
opens a stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import NamedTuple, TypeAlias, TypeVar

import aiohttp
import anyio
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.errors import GatewayError, UpstreamTimeout
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.upstream.errors import TransportErrors
from gateway.upstream.h1 import Response, StreamPool
from gateway.upstream.idle import IdleWatch

T = TypeVar("T")
LARGE_BODY = 1 << 20  # aiohttp writes bytes above this in one call, and warns that it may stall the loop


async def retrying(send: Callable[[], Awaitable[T]], *, retries: int, metrics: Metrics) -> T:
    """Run `send`, retrying (with backoff) only failures where nothing reached MiniMax: never a
    duplicate. The HTTP library's exceptions come out as the gateway's (`TransportErrors`); one that
    gives up is counted in `gateway_upstream_errors`, labelled with the library's class name."""
    for attempt in range(retries + 1):
        boundary = TransportErrors()
        try:
            with boundary:
                return await send()
        except GatewayError as error:
            if boundary.caught is None:  # not the library's: nothing to retry
                raise
            if error.reached_upstream or attempt == retries:
                metrics.upstream_errors.labels(code=boundary.caught).inc()
                raise
        await anyio.sleep(0.1 * 3**attempt)
    raise AssertionError("unreachable")


ErrorLabel: TypeAlias = Callable[[GatewayError, int | None], str | None]
"""The `gateway_upstream_errors` label of a call's failure, given the HTTP status MiniMax answered
with (None: it never answered); None: not counted there."""


class StreamPost:
    """POSTs that open a streamed answer from MiniMax, the same way for both backends: retries of
    what could not connect (`retrying`), all within `first_byte_timeout`, the response closed on any
    failure, and the outcome counted (latency by call, errors by label). A body's silences are
    timed by `idle` (`idle_timeout`), not by a timer per read."""

    __slots__ = ("_first_byte", "_idle", "_metrics", "_pool", "_retries")

    def __init__(self, settings: Settings, pool: StreamPool, idle: IdleWatch, metrics: Metrics) -> None:
        self._pool = pool
        self._idle = idle
        self._metrics = metrics
        self._retries = settings.upstream_retries
        self._first_byte = settings.first_byte_timeout

    async def open(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        *,
        params: Mapping[str, str] | None = None,
        call: str,
        accept: Callable[[Response], Awaitable[T]],
        error_label: ErrorLabel,
        late: str,
    ) -> T:
        """POST `data` to `url` and hand the response to `accept`, which reads as far as it takes to
        tell a start from a rejection, and returns what owns the response from then on or raises the
        rejection's `GatewayError`. All within `first_byte_timeout` (past it: `UpstreamTimeout(late)`).
        `call` labels the latency, `error_label` a failure."""

        def post() -> Awaitable[Response]:
            return self._pool.post(url, data, headers, params)

        started = time.monotonic()
        response: Response | None = None
        try:
            async with asyncio.timeout(self._first_byte):
                response = await retrying(post, retries=self._retries, metrics=self._metrics)
                self._idle.add(response)
                opened = await accept(response)
        except TimeoutError:
            if response is not None:
                response.close()
            self._metrics.upstream_errors.labels(code="first_byte_timeout").inc()
            raise UpstreamTimeout(late) from None
        except BaseException as exc:
            if response is not None:
                response.close()
            if isinstance(exc, GatewayError):
                label = error_label(exc, None if response is None else response.status)
                if label is not None:
                    self._metrics.upstream_errors.labels(code=label).inc()
            raise
        self._metrics.upstream_latency.labels(call=call).observe(time.monotonic() - started)
        return opened


class Upstream(NamedTuple):
    """The process's ways to MiniMax: `http` for REST calls (httpx on `session`, aiohttp's pool),
    `streams` for requests that open a streamed answer (its own pool)."""

    http: httpx.AsyncClient
    session: aiohttp.ClientSession
    streams: StreamPost


@asynccontextmanager
async def upstream_http(settings: Settings, metrics: Metrics) -> AsyncIterator[Upstream]:
    """The two connection pools, each of `max_connections` (aiohttp's default, 100, would queue call
    101): REST calls go through httpx on aiohttp's (httpx's own transport costs several times more CPU
    per read), streamed answers through `h1.StreamPool`. With them, the sweep that times out streamed
    bodies' silences (`IdleWatch`), running until the pools close."""
    connector = aiohttp.TCPConnector(limit=settings.max_connections, limit_per_host=0)
    session = aiohttp.ClientSession(connector=connector)
    pool = StreamPool(settings.max_connections, settings.connect_timeout)
    idle = IdleWatch(settings.idle_timeout)
    sweep = asyncio.get_running_loop().create_task(idle.run())
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport(client=session)) as http:  # closes `session`
            yield Upstream(http, session, StreamPost(settings, pool, idle, metrics))
    finally:
        sweep.cancel()
        pool.close()
