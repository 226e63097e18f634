"""The one upstream connection pool (aiohttp for streams, httpx on top of it for REST calls), the
one retry policy for calls to MiniMax, and the one way to POST a request that opens a stream."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TypeAlias, TypeVar

import aiohttp
import anyio
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.errors import GatewayError, UpstreamTimeout
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.upstream.errors import TransportErrors
from gateway.upstream.idle import IdleWatch

T = TypeVar("T")
LARGE_BODY = 1 << 20  # aiohttp writes bytes above this in one call, and warns that it may stall the loop


def post_body(data: bytes) -> bytes | io.BytesIO:
    """What to hand aiohttp as a request body: bytes, or above `LARGE_BODY` a fresh file object it
    sends in pieces (a new one per attempt: a retry must send the whole body again)."""
    return io.BytesIO(data) if len(data) > LARGE_BODY else data


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
    timed by `idle` (`idle_timeout`), not by aiohttp's per-read timer."""

    __slots__ = ("_first_byte", "_idle", "_metrics", "_retries", "_session", "_timeout")

    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, idle: IdleWatch, metrics: Metrics
    ) -> None:
        self._session = session
        self._idle = idle
        self._metrics = metrics
        self._retries = settings.upstream_retries
        self._first_byte = settings.first_byte_timeout
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout)

    async def open(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        *,
        params: Mapping[str, str] | None = None,
        call: str,
        accept: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        error_label: ErrorLabel,
        late: str,
    ) -> T:
        """POST `data` to `url` and hand the response to `accept`, which reads as far as it takes to
        tell a start from a rejection, and returns what owns the response from then on or raises the
        rejection's `GatewayError`. All within `first_byte_timeout` (past it: `UpstreamTimeout(late)`).
        `call` labels the latency, `error_label` a failure."""

        def post() -> Awaitable[aiohttp.ClientResponse]:
            return self._session.post(
                url,
                data=post_body(data),
                headers=headers,
                params=params,
                timeout=self._timeout,
                allow_redirects=False,
            )

        started = time.monotonic()
        response: aiohttp.ClientResponse | None = None
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


@asynccontextmanager
async def upstream_http(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, aiohttp.ClientSession, IdleWatch]]:
    """One aiohttp connection pool: streams read it directly, REST calls go through httpx on top of
    it (httpx's own transport costs several times more CPU per read). The pool limit is explicit:
    aiohttp defaults to 100 connections, which would queue stream 101. With it, the sweep that times
    out streamed bodies' silences (`IdleWatch`), running until the pool closes."""
    connector = aiohttp.TCPConnector(limit=settings.max_connections, limit_per_host=0)
    # Reads of up to 256 KiB: a cumulative MiniMax sends frames of hundreds of KB, which aiohttp's
    # default (64 KiB, pausing the socket at twice that) takes in many paused and resumed pieces.
    # Higher would let a slow client's stream hold more here before the upstream is paused.
    session = aiohttp.ClientSession(connector=connector, read_bufsize=2**18)
    idle = IdleWatch(settings.idle_timeout)
    sweep = asyncio.get_running_loop().create_task(idle.run())
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport(client=session)) as http:  # closes `session`
            yield http, session, idle
    finally:
        sweep.cancel()
