"""`StreamPost` and `retrying` (the one way both backends POST to MiniMax) over real HTTP on loopback:
connections refused then retried, a request MiniMax took never sent twice, the first-byte deadline,
rejections mapped, every failed response closed (the pool keeps no connection), metrics counted,
and the key never in an error."""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import httpx
import pytest

from gateway.bridge.client import Credentials, MiniMaxClient
from gateway.engine.chat import ChatClient
from gateway.errors import GatewayError, RateLimited, UpstreamError, UpstreamTimeout
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.upstream.errors import from_http_status
from gateway.upstream.h1 import Response
from gateway.upstream.http import StreamPost, retrying, upstream_http
from gateway.upstream.sse_body import SSEBody

pytestmark = pytest.mark.asyncio
KEY = "sk-secret-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
LATE = "MiniMax did not start in time"
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class Upstream:
    """A raw HTTP/1.1 server on loopback: `answer` plays each request (True: read the next one on
    the same connection). Counts the requests it read and the connections the gateway closed."""

    answer: Answer
    url: str = ""
    requests: int = 0
    closed: int = 0  # connections the client ended (EOF where a request or more of it could come)
    bodies: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed += 1
                    return
                length = next(
                    (
                        int(value)
                        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n"))
                        if name.strip().lower() == b"content-length"
                    ),
                    0,
                )
                self.bodies.append(await reader.readexactly(length))
                self.requests += 1
                if not await self.answer(reader, writer):
                    return
        except ConnectionError:
            self.closed += 1
        finally:
            writer.close()


@asynccontextmanager
async def upstream(answer: Answer, sock: socket.socket | None = None) -> AsyncIterator[Upstream]:
    up = Upstream(answer)
    if sock is None:
        srv = await asyncio.start_server(up.handle, "127.0.0.1", 0)
    else:
        srv = await asyncio.start_server(up.handle, sock=sock)
    up.url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/stream"
    try:
        yield up
    finally:
        srv.close()
        await srv.wait_closed()


@contextmanager
def refusing() -> Iterator[tuple[socket.socket, str]]:
    """A port bound but not listening: connections to it are refused (until it listens)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock, f"http://127.0.0.1:{sock.getsockname()[1]}/v1/stream"
    finally:
        sock.close()


# -- answers -------------------------------------------------------------------------------------


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def stream_started(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Headers and a first event, then the stream stays open until the client ends it."""
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        + _chunk(b'data: {"first": true}\n\n')
    )
    await writer.drain()
    await reader.read()  # until the client closes
    raise ConnectionError


async def error_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """A stream whose first event is an error (the rest would follow: the body is not done)."""
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        + _chunk(b'data: {"error": "refused"}\n\n')
    )
    await writer.drain()
    await reader.read()
    raise ConnectionError


async def headers_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """The stream's headers, then silence."""
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    await writer.drain()
    await reader.read()
    raise ConnectionError


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Takes the request and never answers."""
    await reader.read()
    raise ConnectionError


async def rate_limited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """A complete 429 on a keep-alive connection: the client could reuse it, unless it closes it."""
    body = b'{"error": {"message": "slow down"}}'
    writer.write(
        b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 7\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    return True


async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Takes the request, then drops the connection without a word."""
    return False


# -- the client side -----------------------------------------------------------------------------


@dataclass
class Gateway:
    settings: Settings
    metrics: Metrics
    http: httpx.AsyncClient
    session: aiohttp.ClientSession
    post: StreamPost
    labels: list[tuple[str, int | None]] = field(default_factory=list)  # what error_label was asked

    def error_label(self, exc: GatewayError, status: int | None) -> str | None:
        self.labels.append((type(exc).__name__, status))
        return None if status is None else f"http_{status}"

    async def open(self, url: str, body: bytes = b'{"stream": true}') -> SSEBody:
        return await self.post.open(
            url,
            body,
            HEADERS,
            call="test/stream",
            accept=first_read,
            error_label=self.error_label,
            late=LATE,
        )

    def counted(self, code: str) -> float:
        return self.metrics.registry.get_sample_value("gateway_upstream_errors_total", {"code": code}) or 0

    def latencies(self, call: str = "test/stream") -> float:
        return (
            self.metrics.registry.get_sample_value("gateway_upstream_latency_seconds_count", {"call": call})
            or 0
        )

    async def pool_is_free(self, up: Upstream) -> None:
        """The pool holds one connection: a call gets it at once only if the failed one gave it back."""
        async with asyncio.timeout(2):
            body = await self.open(up.url)
        body.close()


async def first_read(response: Response) -> SSEBody:
    """`accept`: a rejection raises; a start is read up to its first payloads."""
    if response.status != 200:
        content = await response.read()
        raise from_http_status(response.status, content.decode(), response.headers.get("retry-after"))
    body = SSEBody(response)
    while not (payloads := await body.next_payloads()):
        pass
    if payloads[0].startswith(b'{"error"'):
        raise UpstreamError("MiniMax refused in its first event")
    return body


@asynccontextmanager
async def gateway(**settings: Any) -> AsyncIterator[Gateway]:
    config = Settings(**{"max_connections": 1, "upstream_retries": 2, **settings})
    metrics = Metrics()
    async with upstream_http(config, metrics) as pools:
        yield Gateway(config, metrics, pools.http, pools.session, pools.streams)


@dataclass
class Backoffs:
    """The backoff sleeps between attempts, taken at once (an attempt per sleep, plus the first);
    `then` runs at the first one."""

    slept: list[float] = field(default_factory=list)
    then: Callable[[], Awaitable[None]] | None = None

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.then is not None:
            then, self.then = self.then, None
            await then()


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> Backoffs:
    backoffs = Backoffs()
    monkeypatch.setattr(anyio, "sleep", backoffs.sleep)  # as `retrying` calls it
    return backoffs


def shows_no_key(error: BaseException) -> None:
    """Neither the error nor its traceback (as a log would print it) holds the key or a cause."""
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert KEY not in "".join(traceback.format_exception(error)) + repr(error)


# -- tests ---------------------------------------------------------------------------------------


async def test_a_refused_connection_is_retried_with_backoff_then_mapped(
    backoffs: Backoffs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with gateway() as gw:
        with refusing() as (_, url), pytest.raises(UpstreamError) as caught:
            await gw.open(url)
    error = caught.value
    assert type(error) is UpstreamError and error.status == 502
    assert error.message == "could not connect to MiniMax"
    assert error.reached_upstream is False
    assert backoffs.slept == pytest.approx([0.1, 0.3])  # UPSTREAM_RETRIES=2: three attempts
    assert gw.counted("ConnectFailed") == 1  # once, when it gave up, by the failure's class
    assert gw.labels == [("UpstreamError", None)]  # no answer: no status for the label
    assert gw.latencies() == 0
    shows_no_key(error)
    assert KEY not in caplog.text


@pytest.mark.parametrize("size", [100, 3 << 20], ids=["small", "large"])  # large: beyond a socket buffer
async def test_a_refused_connection_is_retried_until_minimax_listens(backoffs: Backoffs, size: int) -> None:
    data = b'{"x": "' + b"a" * size + b'"}'  # sent whole again by the attempt that connects
    async with AsyncExitStack() as stack:
        sock, url = stack.enter_context(refusing())
        late: list[Upstream] = []

        async def listen() -> None:  # MiniMax comes up while the gateway backs off
            late.append(await stack.enter_async_context(upstream(stream_started, sock)))

        backoffs.then = listen
        async with gateway() as gw:
            (await gw.open(url, data)).close()
    assert backoffs.slept == [0.1]
    assert late[0].bodies == [data]
    assert gw.latencies() == 1
    assert gw.counted("ConnectFailed") == 0 and gw.labels == []


async def test_a_request_minimax_took_is_never_sent_twice(backoffs: Backoffs) -> None:
    async with upstream(hangs_up) as up, gateway() as gw:
        with pytest.raises(UpstreamError) as caught:
            await gw.open(up.url)
    assert caught.value.message == "the connection to MiniMax failed (Disconnected)"
    assert caught.value.reached_upstream is True
    assert up.requests == 1 and backoffs.slept == []
    assert gw.counted("Disconnected") == 1
    shows_no_key(caught.value)


async def test_no_answer_before_the_first_byte_deadline_times_out() -> None:
    async with upstream(silent) as up, gateway(first_byte_timeout=0.3) as gw:
        with pytest.raises(UpstreamTimeout) as caught:
            await gw.open(up.url)
        assert caught.value.message == LATE and caught.value.status == 504
        assert gw.counted("first_byte_timeout") == 1
        assert up.requests == 1  # a timeout is not retried: MiniMax may have taken the request
        async with asyncio.timeout(2):
            while up.closed < 1:  # the gateway hung up on it
                await asyncio.sleep(0.01)
        up.answer = stream_started
        await gw.pool_is_free(up)
    shows_no_key(caught.value)


async def test_a_stream_with_no_first_event_in_time_is_closed() -> None:
    async with upstream(headers_only) as up, gateway(first_byte_timeout=0.3) as gw:
        with pytest.raises(UpstreamTimeout, match=LATE):
            await gw.open(up.url)
        assert gw.counted("first_byte_timeout") == 1
        async with asyncio.timeout(2):
            while up.closed < 1:
                await asyncio.sleep(0.01)
        up.answer = stream_started
        await gw.pool_is_free(up)
        assert gw.latencies() == 1  # the call that worked, only


async def test_an_error_status_is_mapped() -> None:
    async with upstream(rate_limited) as up, gateway() as gw:
        with pytest.raises(RateLimited) as caught:
            await gw.open(up.url)
        error = caught.value
        assert error.message == 'MiniMax answered HTTP 429: {"error": {"message": "slow down"}}'
        assert error.retry_after == 7 and error.headers() == {"Retry-After": "7"}
        assert gw.labels == [("RateLimited", 429)]
        assert gw.counted("http_429") == 1
        assert up.requests == 1  # an answer is not retried
        up.answer = stream_started
        await gw.pool_is_free(up)
    assert up.requests == 2
    shows_no_key(error)


async def test_a_rejection_inside_the_stream_closes_its_connection() -> None:
    async with upstream(error_first) as up, gateway() as gw:
        with pytest.raises(UpstreamError, match="in its first event"):
            await gw.open(up.url)
        assert gw.labels == [("UpstreamError", 200)]
        assert gw.counted("http_200") == 1
        async with asyncio.timeout(2):
            while up.closed < 1:  # the body was not done: closed, the server sees it end
                await asyncio.sleep(0.01)
        up.answer = stream_started
        await gw.pool_is_free(up)
        assert gw.latencies() == 1  # the call that worked, only


async def test_a_start_is_returned_open_and_timed() -> None:
    async with upstream(stream_started) as up, gateway() as gw:
        body = await gw.open(up.url, b'{"n": 1}')
        assert up.bodies == [b'{"n": 1}']
        assert gw.latencies() == 1
        assert up.closed == 0  # the stream is the caller's now
        body.close()
        async with asyncio.timeout(2):
            while up.closed < 1:
                await asyncio.sleep(0.01)
    assert gw.labels == []


async def test_rest_calls_retry_through_the_same_table(backoffs: Backoffs) -> None:
    """httpx-aiohttp calls a refused connection ConnectTimeout: the aiohttp cause decides."""
    async with gateway() as gw:
        with refusing() as (_, url), pytest.raises(UpstreamError) as caught:
            await retrying(
                lambda: gw.http.post(url, content=b"{}", headers=HEADERS),
                retries=gw.settings.upstream_retries,
                metrics=gw.metrics,
            )
    assert caught.value.message == "could not connect to MiniMax"
    assert caught.value.reached_upstream is False
    assert backoffs.slept == pytest.approx([0.1, 0.3])
    assert gw.counted("ConnectTimeout") == 1  # labelled by the class httpx raised, as before
    shows_no_key(caught.value)


async def test_a_rest_call_minimax_took_is_not_retried(backoffs: Backoffs) -> None:
    async with upstream(hangs_up) as up, gateway() as gw:
        with pytest.raises(UpstreamError) as caught:
            await retrying(
                lambda: gw.http.post(up.url, content=b"{}", headers=HEADERS),
                retries=2,
                metrics=gw.metrics,
            )
    assert caught.value.message == "the connection to MiniMax failed (ServerDisconnectedError)"
    assert up.requests == 1 and backoffs.slept == []
    assert gw.counted("ConnectTimeout") == 1


# -- both clients, as they count and word their failures ------------------------------------------


async def test_the_engine_counts_a_connect_failure_once(backoffs: Backoffs) -> None:
    with refusing() as (_, url):
        async with gateway(minimax_base_url=url.removesuffix("/v1/stream"), upstream_retries=0) as gw:
            chat = ChatClient(gw.settings, gw.session, gw.post)
            with pytest.raises(UpstreamError, match="could not connect to MiniMax") as caught:
                await chat.open({"model": "m", "stream": True}, KEY)
            assert not await chat.reachable()
    assert gw.counted("ConnectFailed") == 1 and gw.counted("502") == 0
    shows_no_key(caught.value)


async def test_the_engine_times_out_with_its_own_message() -> None:
    async with upstream(silent) as up:
        base = up.url.removesuffix("/v1/stream")
        async with gateway(minimax_base_url=base, first_byte_timeout=0.3) as gw:
            chat = ChatClient(gw.settings, gw.session, gw.post)
            with pytest.raises(
                UpstreamTimeout, match=r"^MiniMax did not answer the chat completion in time$"
            ):
                await chat.open({"model": "m", "stream": True}, KEY)
    assert gw.counted("first_byte_timeout") == 1


async def test_the_bridge_counts_a_connect_failure_once(backoffs: Backoffs) -> None:
    with refusing() as (_, url):
        async with gateway(minimax_base_url=url.removesuffix("/v1/stream"), upstream_retries=0) as gw:
            bridge = MiniMaxClient(gw.settings, gw.http, gw.post, gw.metrics)
            with pytest.raises(UpstreamError, match="could not connect to MiniMax") as caught:
                await bridge.open_stream({"thread_id": "t"}, auth=Credentials(KEY, "g"))
            with pytest.raises(UpstreamError, match="could not connect to MiniMax"):
                await bridge.call("GET", "threads/retrieve", auth=Credentials(KEY), params={"thread_id": "t"})
            assert not await bridge.reachable()
    samples = {
        s.labels["code"]: s.value
        for m in gw.metrics.registry.collect()
        if m.name == "gateway_upstream_errors"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert samples == {"ConnectFailed": 1, "ConnectTimeout": 1}
    shows_no_key(caught.value)


async def test_the_bridge_times_out_with_its_own_message() -> None:
    async with upstream(headers_only) as up:
        base = up.url.removesuffix("/v1/stream")
        async with gateway(minimax_base_url=base, first_byte_timeout=0.3) as gw:
            bridge = MiniMaxClient(gw.settings, gw.http, gw.post, gw.metrics)
            with pytest.raises(UpstreamTimeout, match=r"^MiniMax did not start the stream in time$"):
                await bridge.open_stream({"thread_id": "t"}, auth=Credentials(KEY))
    assert gw.counted("first_byte_timeout") == 1
