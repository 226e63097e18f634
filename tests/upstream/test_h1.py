"""`h1.StreamPool` over real sockets on loopback, against raw HTTP/1.1 written by hand: connections kept
alive and reused (not past `KEEPALIVE`, not after the server spoke out of turn), bodies framed by chunks
cut anywhere, by length or by the connection's end, cuts and garbage raised as `StreamFailure`s, reading
paused past `HIGH_WATER`, a listener called instead of the waiter, the pool's size, header injection
refused, `close()`, and TLS verified."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import random
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.upstream import h1
from gateway.upstream.h1 import (
    HIGH_WATER,
    BadResponse,
    ConnectFailed,
    Disconnected,
    Response,
    StreamFailure,
    StreamPool,
)

pytestmark = pytest.mark.asyncio

CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def complete(body: bytes, *headers: bytes) -> bytes:
    """A whole response framed by its length (kept alive unless a header says otherwise)."""
    extra = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (extra, len(body), body)


# -- the loopback server ---------------------------------------------------------------------------


@dataclass
class Request:
    """One request as the server read it."""

    line: str
    headers: list[tuple[str, str]]  # names lower-cased, in order
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass
class Conn:
    """One accepted connection, as the server sees it (`index` 0 for the first)."""

    up: Upstream
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    index: int

    async def request(self) -> Request | None:
        """The next request on this connection, or None when the client closed it (counted)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.up.hangups += 1
            return None
        line, *lines = head[:-4].decode("latin-1").split("\r\n")
        headers = [
            (name.strip().lower(), value.strip()) for name, _, value in (h.partition(":") for h in lines)
        ]
        length = int(next((value for name, value in headers if name == "content-length"), "0"))
        request = Request(line, headers, await self.reader.readexactly(length))
        self.up.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def rest(self) -> None:
        """Until the client closes the connection (counted); whatever it sends is dropped."""
        try:
            while await self.reader.read(65536):
                pass
        except ConnectionError:
            pass
        self.up.hangups += 1


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class Upstream:
    """A raw HTTP/1.1 server: `handler` plays each connection. Counts the connections it accepted and
    those the client closed (`hangups`), and keeps the requests it read."""

    handler: Handler
    url: str = ""
    accepted: int = 0
    hangups: int = 0
    requests: list[Request] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.append(writer)
        conn = Conn(self, reader, writer, self.accepted)
        self.accepted += 1
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def upstream(
    handler: Handler, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Upstream]:
    up = Upstream(handler)
    server = await asyncio.start_server(up.serve, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    up.url = f"{'https' if tls else 'http'}://{host}:{port}/v1/chat"
    try:
        yield up
    finally:
        server.close()
        for writer in up.writers:
            writer.close()
        if up.tasks:
            _, pending = await asyncio.wait(up.tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()


@asynccontextmanager
async def pool_of(limit: int, tls: ssl.SSLContext | None = None) -> AsyncIterator[StreamPool]:
    pool = StreamPool(limit, 2.0, tls)
    try:
        yield pool
    finally:
        pool.close()


@contextmanager
def refusing() -> Iterator[str]:
    """A port bound but not listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat"
    finally:
        sock.close()


async def until(check: Callable[[], bool], timeout: float = 1.0) -> None:
    """Until `check()` holds (polled every few ms); a TimeoutError fails the test after `timeout` s."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.002)


async def body_of(response: Response) -> bytes:
    """The body as `waiting()`/`wait()`/`take()` hand it over, up to its end (`take()` gives b"")."""
    parts: list[bytes] = []
    async with asyncio.timeout(2.0):
        while True:
            while response.waiting():
                await response.wait()
            piece = response.take()
            if not piece:
                return b"".join(parts)
            parts.append(piece)


async def serve_complete(conn: Conn) -> None:
    """Every request on the connection gets a whole response: `answer <n>` (n: its rank on the server)."""
    while await conn.request() is not None:
        await conn.send(complete(b"answer %d" % len(conn.up.requests), b"Content-Type: text/plain"))


# -- keep-alive ------------------------------------------------------------------------------------


async def test_sequential_posts_reuse_one_kept_alive_connection() -> None:
    """Sequential posts share one connection; each is sent whole: query (URL's + params), Host, length."""

    async def answer(conn: Conn) -> None:
        while await conn.request() is not None:
            body = b'{"n": %d}' % len(conn.up.requests)
            await conn.send(complete(body, b"Content-Type: Application/JSON; charset=utf-8"))

    async with upstream(answer) as up, pool_of(4) as pool:
        host = up.url.split("/")[2]
        first = await pool.post(
            up.url + "?model=m1",
            b'{"messages": []}',
            {"Authorization": "Bearer k", "X-Trace": "t-1", "Content-Length": "999", "Host": "elsewhere"},
            params={"stream": "true", "q": "a b&c"},
        )
        assert (first.status, first.content_type) == (200, "application/json")
        assert first.headers["content-type"] == "Application/JSON; charset=utf-8"
        assert await first.read() == b'{"n": 1}'
        first.release()
        assert first.closed

        second = await pool.post(up.url, b"second body", {"X-Trace": "t-2"})
        assert await body_of(second) == b'{"n": 2}'
        second.release()
        third = await pool.post(f"http://{host}", b"", {}, params={"x": "1"})  # no path: "/"
        assert await body_of(third) == b'{"n": 3}'
        third.release()

        assert up.accepted == 1
        assert pool.connections == 1
        one, two, three = up.requests
        assert one.line == "POST /v1/chat?model=m1&stream=true&q=a+b%26c HTTP/1.1"
        assert one.body == b'{"messages": []}'
        assert one.header("host") == [host]
        assert one.header("content-length") == ["16"]
        assert one.header("authorization") == ["Bearer k"]
        assert one.header("x-trace") == ["t-1"]
        assert two.line == "POST /v1/chat HTTP/1.1"
        assert two.body == b"second body"
        assert two.header("content-length") == ["11"]
        assert two.header("x-trace") == ["t-2"]
        assert three.line == "POST /?x=1 HTTP/1.1"
        assert three.header("content-length") == ["0"]
        assert three.body == b""
        pool.close()
        await until(lambda: up.hangups == 1)  # the pool's close ends its idle connection


async def test_an_idle_connection_older_than_keepalive_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection idle for `KEEPALIVE` seconds is closed, not reused: the next post connects anew."""
    monkeypatch.setattr(h1, "KEEPALIVE", 0.05)
    async with upstream(serve_complete) as up, pool_of(4) as pool:
        first = await pool.post(up.url, b"1", {})
        assert await body_of(first) == b"answer 1"
        first.release()
        await asyncio.sleep(0.08)

        second = await pool.post(up.url, b"2", {})
        assert await body_of(second) == b"answer 2"
        second.release()
        assert up.accepted == 2
        await until(lambda: up.hangups == 1)  # the stale one was closed
        assert pool.connections == 1


# -- bodies ----------------------------------------------------------------------------------------

EVENTS = [b"data: one\n\n", b"x" * 26, b"data: \xe2\x82\xac three\n\n"]  # 26: a two-digit size, "1a"
CHUNKED_BODY = (
    chunk(EVENTS[0]) + chunk(EVENTS[1]) + b"3;name=value\r\nabc\r\n" + chunk(EVENTS[2]) + b"0\r\n\r\n"
)
WIRE = CHUNKED + CHUNKED_BODY
WHOLE = b"".join(EVENTS[:2]) + b"abc" + EVENTS[2]


def at(marker: bytes, offset: int) -> int:
    return WIRE.index(marker) + offset


CUTS = {
    "head apart": [len(CHUNKED)],
    "inside the head": [10, len(CHUNKED) - 1],
    "mid chunk-size line": [at(b"1a\r\n", 1)],
    "between size and CRLF": [at(b"1a\r\n", 2)],
    "between CR and LF after size": [at(b"1a\r\n", 3)],
    "mid data": [at(b"data: one", 4), at(b"xxxx", 13)],
    "between CR and LF after data": [at(b"\n\n\r\n1a", 3)],
    "mid chunk extension": [at(b";name", 3)],
    "mid last chunk": [at(b"\r\n0\r\n\r\n", 3), at(b"\r\n0\r\n\r\n", 5), at(b"\r\n0\r\n\r\n", 6)],
    "every byte": list(range(len(CHUNKED) + 1, len(WIRE))),
}


@pytest.mark.parametrize("cuts", CUTS.values(), ids=CUTS.keys())
async def test_a_chunked_body_cut_anywhere_arrives_exactly(cuts: list[int]) -> None:
    """A chunked body in awkward pieces arrives byte for byte, then b"" and `eof`; then reused."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        for start, end in zip([0, *cuts], [*cuts, len(WIRE)], strict=True):
            await conn.send(WIRE[start:end])
            await asyncio.sleep(0.001)  # each piece its own read
        await serve_complete(conn)

    async with upstream(answer) as up, pool_of(2) as pool:
        response = await pool.post(up.url, b"", {})
        assert (response.status, response.content_type) == (200, "text/event-stream")
        assert await body_of(response) == WHOLE
        assert response.take() == b""
        assert (response.eof, response.exception, response.waiting()) == (True, None, False)
        assert (response.received, response.buffered) == (len(WHOLE), 0)
        response.release()

        again = await pool.post(up.url, b"", {})
        assert await body_of(again) == b"answer 2"
        again.release()
        assert up.accepted == 1


async def test_a_body_ended_by_the_connections_end_ends_cleanly() -> None:
    """Without length or chunks the body ends cleanly with the connection, which is not kept."""
    parts = [b"first part, ", b"second part, ", b"last part"]

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        for part in parts:
            await conn.send(part)
            await asyncio.sleep(0.001)
        # the handler's end closes the connection

    async with upstream(answer) as up, pool_of(2) as pool:
        response = await pool.post(up.url, b"", {})
        assert await body_of(response) == b"".join(parts)
        assert (response.eof, response.exception) == (True, None)
        assert pool.connections == 1  # still the response's until it is released
        response.release()
        assert pool.connections == 0
        assert up.accepted == 1


async def test_a_chunked_body_cut_midway_fails_after_what_arrived() -> None:
    """A chunked body cut before its end: what came is taken, then `Disconnected`; the slot is freed."""
    cut = asyncio.Event()

    async def answer(conn: Conn) -> None:
        if conn.index > 0:
            return await serve_complete(conn)
        await conn.request()
        await conn.send(CHUNKED + chunk(b"first") + b"a\r\nsec")  # 3 bytes of a 10-byte chunk
        await cut.wait()
        # the handler's end closes the connection mid-chunk

    async with upstream(answer) as up, pool_of(1) as pool:
        response = await pool.post(up.url, b"", {})
        got = b""
        while len(got) < 8:
            while response.waiting():
                await response.wait()
            got += response.take()
        assert got == b"firstsec"
        cut.set()
        with pytest.raises(Disconnected):
            async with asyncio.timeout(1.0):
                while response.waiting():
                    await response.wait()
        with pytest.raises(Disconnected):
            response.waiting()
        assert (response.eof, response.take(), response.received) == (False, b"", 8)
        response.release()
        assert pool.connections == 0

        again = await asyncio.wait_for(pool.post(up.url, b"", {}), 1.0)
        assert await body_of(again) == b"answer 2"
        again.release()


async def test_bytes_arriving_with_the_cut_stay_takeable() -> None:
    """Bytes that came in with the cut are handed over before the cut is raised: nothing is lost."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED + chunk(b"first") + b"a\r\nsec")
        # the handler's end closes the connection

    async with upstream(answer) as up, pool_of(1) as pool:
        response = await pool.post(up.url, b"", {})
        await until(lambda: response.exception is not None)
        assert isinstance(response.exception, Disconnected)
        assert not response.waiting()  # what arrived comes first: the cut is raised after it
        assert response.take() == b"firstsec"
        with pytest.raises(Disconnected):
            response.waiting()
        response.close()
        assert pool.connections == 0


async def test_a_listener_is_called_for_each_read_the_end_and_a_cut_instead_of_the_waiter() -> None:
    """With `listener` set, whatever arrives (a piece of the body, its end, a cut) calls it, in the
    connection's callback, and no waiter is woken; `close()` drops it (a reader is never called back
    from its own close)."""
    step = asyncio.Event()

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED + chunk(b"one"))
        await step.wait()
        step.clear()
        await conn.send(chunk(b"two"))
        await step.wait()
        # the handler's end cuts the body

    async with upstream(answer) as up, pool_of(1) as pool:
        response = await pool.post(up.url, b"", {})
        seen: list[bytes | BaseException] = []

        def listener() -> None:
            try:
                if not response.waiting():
                    seen.append(response.take())
            except StreamFailure as exc:
                seen.append(exc)

        waiter = response.wait()
        response.listener = listener
        listener()  # what came with the headers
        await until(lambda: b"one" in seen)
        step.set()
        await until(lambda: b"two" in seen)
        step.set()
        await until(lambda: any(isinstance(x, Disconnected) for x in seen))
        assert [x for x in seen if isinstance(x, bytes)] == [b"one", b"two"]
        assert not waiter.done()  # the listener took it all: the waiter was never woken
        response.close()
        assert response.listener is None


async def test_a_response_that_is_not_http_is_a_bad_response() -> None:
    """Garbage instead of a status line: `post` raises `BadResponse` and the connection is closed."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"garbage\r\n\r\n")
        await conn.rest()

    async with upstream(answer) as up, pool_of(1) as pool:
        with pytest.raises(BadResponse):
            await asyncio.wait_for(pool.post(up.url, b"", {}), 1.0)
        assert pool.connections == 0
        await until(lambda: up.hangups == 1)
    assert issubclass(BadResponse, StreamFailure)


async def test_a_response_after_the_response_is_not_part_of_it() -> None:
    """Bytes after a response's end (out of turn) neither change it nor let its connection be reused."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(complete(b"ok") + b"HTTP/1.1 500 Oops\r\nX-Extra: 1\r\nContent-Length: 3\r\n\r\nbad")
        await serve_complete(conn)

    async with upstream(answer) as up, pool_of(2) as pool:
        response = await pool.post(up.url, b"", {})
        await asyncio.sleep(0.02)  # everything the server wrote has arrived
        status, headers, body = response.status, dict(response.headers), await body_of(response)
        response.release()
        again = await pool.post(up.url, b"", {})
        again.close()
        assert (status, headers, body) == (200, {"content-length": "2"}, b"ok")
        assert up.accepted == 2


# -- flow control ----------------------------------------------------------------------------------

TOTAL = 16 * 2**20  # more than HIGH_WATER plus what loopback's socket buffers hold


async def test_reading_pauses_past_high_water_and_resumes_when_taken() -> None:
    """`HIGH_WATER` bytes untaken stop the reading; taking resumes it; every byte arrives once, in order."""
    data = random.Random(7).randbytes(TOTAL)
    sent = asyncio.Event()

    async def answer(conn: Conn) -> None:
        await conn.request()
        # a small send buffer: more of the rest waits in the server's transport, whatever the kernel's sizes
        conn.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % TOTAL + data)
        sent.set()
        await serve_complete(conn)

    async with upstream(answer) as up, pool_of(1) as pool:
        response = await pool.post(up.url, b"", {})
        await until(lambda: response.buffered >= HIGH_WATER)
        held = response.received
        await asyncio.sleep(0.05)
        assert response.received == held  # nothing more read while nobody takes
        assert response.buffered < HIGH_WATER + 2**18  # at most one read (256 KiB) past the mark
        assert not sent.is_set()  # the rest waits on the server's side
        assert up.writers[0].transport.get_write_buffer_size() > 0

        assert await body_of(response) == data
        assert sent.is_set()
        response.release()
        again = await pool.post(up.url, b"", {})  # resumed, so reusable
        assert await body_of(again) == b"answer 2"
        again.release()
        assert up.accepted == 1


# -- the pool's size -------------------------------------------------------------------------------

FIRST = {
    "closed mid-body": CHUNKED + chunk(b"first"),
    "released, connection: close": complete(b"first", b"Connection: close"),
    "released, kept alive": complete(b"first"),
}


@pytest.mark.parametrize(
    "how",
    [
        "closed mid-body",
        "released, connection: close",
        "released, kept alive",
    ],
)
async def test_a_post_waits_for_a_free_slot(how: str) -> None:
    """With every slot held by a response, another post waits, and proceeds once it is let go."""

    async def answer(conn: Conn) -> None:
        while (request := await conn.request()) is not None:
            await conn.send(FIRST[how] if request.body == b"1" else complete(b"second"))
        # "connection: close": the client closes it (released), then the server sees its end

    async with upstream(answer) as up, pool_of(1) as pool:
        first = await pool.post(up.url, b"1", {})
        while first.waiting():
            await first.wait()
        assert first.take() == b"first"
        second = asyncio.create_task(pool.post(up.url, b"2", {}))
        try:
            done, _ = await asyncio.wait({second}, timeout=0.1)
            assert not done  # the one slot is held
            assert len(up.requests) == 1
            if how == "closed mid-body":
                first.close()
            else:
                assert await body_of(first) == b""
                first.release()
            response = await asyncio.wait_for(second, 0.5)
            assert await body_of(response) == b"second"
            response.release()
            assert [r.body for r in up.requests] == [b"1", b"2"]
        finally:
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)


async def test_a_post_waiting_when_the_pool_closes_opens_nothing() -> None:
    """A post still waiting for a slot when the pool closes fails: the closed pool connects no more."""

    async def answer(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(CHUNKED + chunk(b"first"))

    async with upstream(answer) as up, pool_of(1) as pool:
        first = await pool.post(up.url, b"", {})
        second = asyncio.create_task(pool.post(up.url, b"", {}))
        done, _ = await asyncio.wait({second}, timeout=0.05)
        assert not done
        pool.close()
        (outcome,) = await asyncio.wait_for(asyncio.gather(second, return_exceptions=True), 1.0)
        first.close()
        if isinstance(outcome, Response):
            outcome.close()  # the leaked connection: closed here, or it warns
        assert isinstance(outcome, ConnectFailed), outcome
        assert up.accepted == 1


# -- requests never sent ---------------------------------------------------------------------------

INJECTIONS = {
    "CRLF in a value": {"X-Evil": "a\r\nInjected: 1"},
    "LF in a value": {"X-Evil": "a\nInjected: 1"},
    "CR in a value": {"X-Evil": "a\rb"},
    "CRLF in a name": {"X-Evil\r\nInjected": "1"},
}


@pytest.mark.parametrize("headers", INJECTIONS.values(), ids=INJECTIONS.keys())
async def test_a_header_with_a_line_break_is_refused_unsent(headers: dict[str, str]) -> None:
    """A line break in a header raises ValueError and nothing goes out (it would split the request)."""
    async with upstream(serve_complete) as up, pool_of(1) as pool:
        with pytest.raises(ValueError):
            await pool.post(up.url, b"x", headers)
        assert pool.connections == 0
        response = await pool.post(up.url, b"next", {"X-Fine": "yes"})
        assert await body_of(response) == b"answer 1"  # the first request the server read
        response.release()
        assert [r.body for r in up.requests] == [b"next"]
        assert up.requests[0].header("injected") == []
        assert up.accepted == 1


async def test_a_refused_connection_is_connect_failed() -> None:
    """A refused port raises `ConnectFailed` (nothing sent) and frees the slot for the next try."""
    async with pool_of(1) as pool:
        with refusing() as url:
            for _ in range(2):  # the second would wait forever if the first kept the slot
                with pytest.raises(ConnectFailed) as caught:
                    await asyncio.wait_for(pool.post(url, b"", {}), 1.0)
                assert not isinstance(caught.value, StreamFailure)
        assert pool.connections == 0


# -- idle connections ------------------------------------------------------------------------------

STRAY = {"a stray response": complete(b"?"), "one byte": b"\n"}


@pytest.mark.parametrize("stray", STRAY.values(), ids=STRAY.keys())
async def test_a_server_talking_on_an_idle_connection_is_not_reused(stray: bytes) -> None:
    """Bytes on an idle connection (nothing asked) make the client close it; the next post connects anew."""
    released = asyncio.Event()

    async def answer(conn: Conn) -> None:
        if conn.index > 0:
            return await serve_complete(conn)
        await conn.request()
        await conn.send(complete(b"ok"))
        await released.wait()
        await conn.send(stray)
        await conn.rest()

    async with upstream(answer) as up, pool_of(2) as pool:
        response = await pool.post(up.url, b"", {})
        assert await body_of(response) == b"ok"
        response.release()
        assert pool.connections == 1  # kept, idle
        released.set()
        await until(lambda: up.hangups == 1)
        await until(lambda: pool.connections == 0)

        again = await pool.post(up.url, b"", {})
        assert await body_of(again) == b"answer 2"
        again.release()
        assert up.accepted == 2


async def test_closing_the_pool_fails_a_body_being_read() -> None:
    """`pool.close()` wakes a reader waiting on a body with `Disconnected` and ends its connection."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED + chunk(b"first"))
        await conn.rest()

    async with upstream(answer) as up, pool_of(2) as pool:
        response = await pool.post(up.url, b"", {})
        while response.waiting():
            await response.wait()
        assert response.take() == b"first"

        async def read_on() -> None:
            while response.waiting():
                await response.wait()

        reader = asyncio.create_task(read_on())
        done, _ = await asyncio.wait({reader}, timeout=0.02)
        assert not done  # blocked in wait()
        pool.close()
        with pytest.raises(Disconnected):
            await asyncio.wait_for(reader, 1.0)
        with pytest.raises(Disconnected):
            response.waiting()
        assert pool.connections == 0
        await until(lambda: up.hangups == 1)
        with pytest.raises(ConnectFailed):
            await pool.post(up.url, b"", {})
        response.release()


# -- TLS -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA of our own and a server certificate it signed for localhost and 127.0.0.1 (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "h1 test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certs(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def serving(certs: Certs) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    return context


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_https_to_a_trusted_server(certs: Certs, host: str) -> None:
    """Over TLS with the server's CA trusted: the body arrives whole and the connection is kept alive."""

    async def answer(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(WIRE)

    trusted = ssl.create_default_context(cafile=certs.ca)
    async with upstream(answer, serving(certs), host) as up, pool_of(2, trusted) as pool:
        assert up.url.startswith(f"https://{host}:")
        for _ in range(2):
            response = await pool.post(up.url, b"over tls", {})
            assert response.status == 200
            assert await body_of(response) == WHOLE
            response.release()
        assert up.accepted == 1
        assert [r.body for r in up.requests] == [b"over tls"] * 2


async def test_https_to_an_untrusted_server_fails_to_connect(certs: Certs) -> None:
    """By default (system trust store) a certificate from an unknown CA is refused with `ConnectFailed`."""
    async with upstream(serve_complete, serving(certs), "localhost") as up, pool_of(1) as pool:
        with pytest.raises(ConnectFailed, match="SSLCertVerificationError"):  # not any other failure
            await asyncio.wait_for(pool.post(up.url, b"secret", {}), 2.0)
        assert pool.connections == 0
        assert up.requests == []


# -- what the fixes after review cover -------------------------------------------------------------


async def test_an_interim_answer_is_skipped() -> None:
    """`100 Continue` (or `103 Early Hints`) before the response is not the response."""

    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        await conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + complete(b"body", b"X-Real: 1"))
        await conn.rest()

    async with upstream(answer) as up, pool_of(1) as pool:
        response = await pool.post(up.url, b"", {})
        assert response.status == 200 and response.headers.get("x-real") == "1"
        assert "link" not in response.headers
        assert await response.read() == b"body" and response.eof


async def test_the_host_header_carries_no_credentials() -> None:
    async def answer(conn: Conn) -> None:
        await conn.request()
        await conn.send(complete(b""))
        await conn.rest()

    async with upstream(answer) as up, pool_of(1) as pool:
        url = up.url.replace("http://", "http://user:secret@")
        (await pool.post(url, b"", {"Transfer-Encoding": "chunked"})).close()
        (request,) = up.requests
        assert request.header("host") == [up.url.split("/")[2]]
        assert request.header("transfer-encoding") == []  # the body is framed by its length, only


async def test_only_absolute_http_urls_are_posted_to() -> None:
    async with pool_of(1) as pool:
        for url in ("ftp://127.0.0.1/x", "/v1/text/chatcompletion_v2", "http:///no-host", "http://h:99999/"):
            with pytest.raises(ValueError):
                await pool.post(url, b"", {})
        assert pool.connections == 0


async def test_a_waiter_cancelled_after_its_turn_passes_the_turn_on() -> None:
    """Two posts wait on a full pool of one; the first in line is woken and cancelled at once: the
    second still gets the room (a lost wake-up would leave it waiting for good)."""

    async def answer(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(complete(b"x"))

    async with upstream(answer) as up, pool_of(1) as pool:
        held = await pool.post(up.url, b"", {})
        first = asyncio.create_task(pool.post(up.url, b"", {}))
        second = asyncio.create_task(pool.post(up.url, b"", {}))
        await asyncio.sleep(0.05)
        assert not first.done() and not second.done()
        await held.read()
        held.release()  # wakes `first`...
        first.cancel()  # ...which never runs to take it
        response = await asyncio.wait_for(second, 1.0)
        assert await response.read() == b"x"
        response.release()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert pool.connections == 1 and up.accepted == 1


async def test_a_full_pool_closes_an_idle_connection_to_another_origin() -> None:
    async def answer(conn: Conn) -> None:
        while await conn.request() is not None:
            await conn.send(complete(b"x"))

    async with upstream(answer) as a, upstream(answer) as b, pool_of(1) as pool:
        first = await pool.post(a.url, b"", {})
        await first.read()
        first.release()  # idle, holding the pool's one connection
        second = await asyncio.wait_for(pool.post(b.url, b"", {}), 1.0)
        assert await second.read() == b"x"
        second.release()
        await until(lambda: a.hangups == 1)  # the idle one was closed to make room
        assert pool.connections == 1


# -- host names ------------------------------------------------------------------------------------


def counted_lookups(monkeypatch: pytest.MonkeyPatch, fail_first: int = 0) -> list[str]:
    """The host names `h1` looks up (the real resolver answers), the first `fail_first` failing."""
    lookups: list[str] = []
    real = h1._lookup

    async def lookup(host: str, port: int) -> list[str]:
        lookups.append(host)
        if len(lookups) <= fail_first:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        return await real(host, port)

    monkeypatch.setattr(h1, "_lookup", lookup)
    return lookups


async def answer_and_close(conn: Conn) -> None:
    await conn.request()
    await conn.send(complete(b"x", b"Connection: close"))


async def test_a_host_is_looked_up_once_for_a_burst_of_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five connections opening at once to `localhost` share one lookup (each address is tried in
    turn: the server listens on 127.0.0.1 only, whatever else `localhost` names)."""
    lookups = counted_lookups(monkeypatch)
    async with upstream(answer_and_close, host="localhost") as up, pool_of(10) as pool:
        responses = await asyncio.gather(*(pool.post(up.url, b"", {}) for _ in range(5)))
        assert up.accepted == 5
        for response in responses:
            assert await response.read() == b"x"
            response.release()
    assert lookups == ["localhost"]


async def test_a_lookup_serves_until_its_ttl_and_a_failed_one_not_at_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups = counted_lookups(monkeypatch, fail_first=1)
    monkeypatch.setattr(h1, "DNS_TTL", 0.2)
    async with upstream(answer_and_close, host="localhost") as up, pool_of(10) as pool:
        with pytest.raises(ConnectFailed, match="gaierror"):
            await pool.post(up.url, b"", {})
        (await pool.post(up.url, b"", {})).close()  # the failure was not kept: looked up again
        (await pool.post(up.url, b"", {})).close()  # within the TTL: not looked up
        assert lookups == ["localhost", "localhost"]
        await asyncio.sleep(0.25)
        (await pool.post(up.url, b"", {})).close()  # the TTL is over: looked up
        (await pool.post(up.url, b"", {})).close()
        assert len(lookups) == 3 and up.accepted == 4


async def test_each_address_is_tried_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first address a host names refuses (nothing listens on 127.0.0.2): the next one serves."""

    async def lookup(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    monkeypatch.setattr(h1, "_lookup", lookup)
    async with upstream(answer_and_close, host="localhost") as up, pool_of(1) as pool:
        response = await pool.post(up.url, b"", {})
        assert await response.read() == b"x"
        response.release()
        assert up.accepted == 1
