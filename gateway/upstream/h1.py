"""MiniMax's streamed answers over HTTP/1.1, read straight off the socket: a pool of kept-alive
connections, each an asyncio protocol whose response is parsed by httptools (uvicorn's parser).

Why not aiohttp, which REST calls keep using (through httpx): a streamed answer arrives as one small
HTTP chunk per SSE event, tens a second on hundreds of streams, and aiohttp's reader pays its upkeep per
chunk (three Python callbacks, a chunk-split record, a timer context per wait). Here a read's bytes are
appended to a list and the one waiting reader is woken, once per `data_received`: at 500 streams x 50
chunks/s that took ~5 µs per chunk off a bare relay (tests/bench/README.md, "Measurements behind the
design").

What it does, and no more: POST with a body already in memory, `http` and `https` (the system's trust
store, SNI), host names looked up once per `DNS_TTL` (each address tried in turn), a connect timeout,
the pool's size (callers wait for a free connection), idle connections reused for `KEEPALIVE` seconds,
bodies framed by chunks, by length or by the connection's end, reading paused while a body holds
`HIGH_WATER` bytes nobody took, no compression (callers ask for identity).
Its failures are the classes below; `gateway.upstream.errors` maps them, with aiohttp's and httpx's.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, cast
from urllib.parse import urlencode, urlsplit

import httptools

KEEPALIVE: Final = 15.0  # s an idle connection is kept for reuse (aiohttp's default)
DNS_TTL: Final = 10.0  # s a host's looked-up addresses serve new connections (aiohttp's default)
HIGH_WATER: Final = 2**19  # bytes a body may hold unread before its connection stops reading
READ_LIMIT: Final = 2**20  # bytes `read()` keeps of a whole (error) body


class StreamFailure(Exception):
    """The connection failed after the request may have reached MiniMax (closed early, bad HTTP)."""


class Disconnected(StreamFailure):
    """The connection ended before the response did."""


class BadResponse(StreamFailure):
    """What came back is not HTTP/1.1 this client reads."""


class ReadTimeout(StreamFailure):
    """MiniMax sent nothing for the idle timeout (`IdleWatch`)."""


class ConnectFailed(Exception):
    """No connection was made: nothing reached MiniMax."""


class ConnectTimeout(ConnectFailed):
    """No connection within the connect timeout: nothing reached MiniMax."""


class Response:
    """One response as it arrives: `status`, `headers` (lower-case names) and `content_type` once
    `StreamPool.post` returned it; then its body, by `waiting()`/`wait()`/`take()` or `read()`; then
    `release()` (the connection goes back to the pool if the body ended) or `close()`."""

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_conn",
        "_loop",
        "_size",
        "_waiter",
        "eof",
        "exception",
        "headers",
        "listener",
        "received",
        "status",
    )

    def __init__(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._conn: _Connection | None = conn
        self._loop = loop  # kept: Python 3.11's `get_running_loop()` makes a getpid() syscall per call
        self._buffer: list[bytes] = []
        self._size = 0  # bytes in `_buffer`
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.received = 0  # body bytes so far (the idle sweep's sign of life)
        self.eof = False
        # Called instead of waking the waiter whenever something arrives (data, the end or a failure):
        # a reader that takes each read where it lands, in the connection's callback (`SSEBody.listen`)
        self.listener: Callable[[], None] | None = None
        self.exception: BaseException | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def buffered(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._conn is None

    def waiting(self) -> bool:
        """Whether there is nothing to take yet (then `await wait()` first). Once what arrived is
        taken, raises what broke the body: bytes that came before a cut are never lost to it."""
        if self._buffer:
            return False
        if self.exception is not None:
            raise self.exception
        return not self.eof

    def wait(self) -> asyncio.Future[None]:
        """Until something comes, the end, or a failure."""
        waiter = self._waiter = self._loop.create_future()
        return waiter

    def take(self) -> bytes:
        """Everything the body holds now, as one bytes (b"" at the end)."""
        buffer = self._buffer
        if not buffer:
            return b""
        data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        buffer.clear()  # the same list again: no new object for the collector per read
        self._size = 0
        if self._conn is not None and self._conn.paused:
            self._conn.resume()
        return data

    async def read(self) -> bytes:
        """The whole body (at most `READ_LIMIT` bytes of it: an error's body, not an answer)."""
        parts: list[bytes] = []
        kept = 0
        while kept < READ_LIMIT:
            while self.waiting():
                await self.wait()
            piece = self.take()
            if not piece:
                break
            parts.append(piece)
            kept += len(piece)
        return b"".join(parts)[:READ_LIMIT]

    def fail(self, exc: BaseException) -> None:
        """End the body with `exc` (raised by the next `waiting()`), unless it already ended."""
        if self.exception is None and not self.eof:
            self.exception = exc
            self._wake()

    def release(self) -> None:
        """Done with it: the connection is reused if the body ended cleanly, else closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.done(reuse=self.eof and self.exception is None and not self._buffer)

    def close(self) -> None:
        """Done with it before its end: the connection is closed (MiniMax sees the request end), and a
        reader still waiting on it wakes to `Disconnected`."""
        self.listener = None
        conn, self._conn = self._conn, None
        if conn is not None:
            self.fail(Disconnected("the gateway closed the response"))
            conn.done(reuse=False)

    def _wake(self) -> None:
        if self.listener is not None:
            self.listener()
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One kept-alive connection: at most one response at a time, parsed as its bytes arrive."""

    __slots__ = (  # slotted like `Response`: every read of every stream goes through its attributes
        "headers_done",
        "idle_since",
        "interim",
        "key",
        "lost",
        "parser",
        "paused",
        "pool",
        "response",
        "reusable",
        "stray",
        "transport",
        "until_eof",
    )

    def __init__(self, pool: StreamPool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.reusable = False  # the last response ended and the server keeps the connection open
        self.until_eof = False  # the response's body ends with the connection
        self.interim = False  # the message being parsed is a 1xx before the response
        self.stray = False  # bytes came after the response ended: not this response's, nor reusable
        self.paused = False
        self.idle_since = 0.0
        self.headers_done: asyncio.Future[None] | None = None

    # -- asyncio -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, not by class

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.eof:  # a server that talks out of turn is not reused
            self._close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.stray:
                self._broken(BadResponse(f"MiniMax's response is not HTTP/1.1 ({type(exc).__name__})"))
                return
        if self.stray:
            self._close()
        response._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        response = self.response
        if response is None:
            self.pool.forget(self)
            return
        if self.until_eof and exc is None and self.headers_done is not None and self.headers_done.done():
            response.eof = True  # a body without length or chunks ends with its connection
            response._wake()
        else:
            self._broken(Disconnected("MiniMax closed the connection before the response ended"))

    # -- httptools ---------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.response is not None and self.response.eof:
            self.stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        if self.stray:
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self.response.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        if self.stray:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # an interim answer (100 Continue, 103): skipped
            self.interim = True
            response.headers = {}
            return
        response.status = status
        headers = response.headers
        self.until_eof = (
            "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()
        )
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        response = self.response
        assert response is not None
        if self.stray:
            return
        response._buffer.append(body)
        response._size += len(body)
        response.received += len(body)
        if response._size >= HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        response = self.response
        assert response is not None
        if self.stray:
            return
        if self.interim:
            self.interim = False
            return
        response.eof = True
        self.reusable = self.parser.should_keep_alive()

    # -- the pool's side ---------------------------------------------------------------------
    def send(self, request: bytes) -> Response:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.response = Response(self, loop)
        self.reusable = self.until_eof = self.interim = self.stray = False
        self.headers_done = loop.create_future()
        self.transport.write(request)
        return self.response

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.lost:
            self.paused = False
            self.transport.resume_reading()

    def done(self, reuse: bool) -> None:
        """Its response's owner let go of it."""
        self.response = None
        self.headers_done = None
        if reuse and self.reusable and not self.lost and not self.paused and not self.stray:
            self.parser = httptools.HttpResponseParser(self)
            self.pool.idle(self)
        else:
            self._close()
            self.pool.forget(self)

    def usable(self, now: float) -> bool:
        return (
            not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < KEEPALIVE
        )

    def _broken(self, exc: StreamFailure) -> None:
        response = self.response
        if response is not None:
            if self.headers_done is not None and not self.headers_done.done():
                self.headers_done.set_exception(exc)
            response.fail(exc)
        self._close()

    def _close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class StreamPool:
    """Kept-alive connections by origin, at most `limit` open (in use, idle or connecting) at once: a
    `post` beyond it waits until a connection goes idle or closes (an idle one of another origin is
    closed to make room). `tls`: what https connections trust (default: the system's certificates,
    host names checked). `close()` closes them all and fails the posts still waiting."""

    def __init__(self, limit: int, connect_timeout: float | None, tls: ssl.SSLContext | None = None) -> None:
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()  # posts waiting for room, oldest first
        self._dns: dict[str, tuple[float, asyncio.Task[list[str]]]] = {}  # host -> (expiry, lookup)
        self._ssl = tls
        self._closed = False

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], params: Mapping[str, str] | None = None
    ) -> Response:
        """Send the request and wait for the response's status and headers (no time limit here: the
        caller sets one). Connecting failures raise `ConnectFailed`, later ones `StreamFailure`."""
        key, path, url_query, host = _split(url)
        query = "&".join(q for q in (url_query, urlencode(params) if params else "") if q)
        request = _request(path + "?" + query if query else path, host, headers, body)
        conn = await self._acquire(key)
        try:
            response = conn.send(request)
            assert conn.headers_done is not None
            await conn.headers_done
        except BaseException:
            conn.done(reuse=False)
            raise
        return response

    async def _acquire(self, key: tuple[str, str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ConnectFailed("the connection pool is closed")
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if conn.usable(loop.time()):
                    return conn
                conn.done(reuse=False)
            if len(self._open) + self._connecting < self._limit:
                return await self._connect(key)
            if not self._evict():
                waiter = loop.create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self._wake()  # woken, then cancelled: the room goes to the next in line
                    raise
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def _evict(self) -> bool:
        """Close the longest idle connection (of any origin) to make room; False: none is idle."""
        oldest = min((c for conns in self._idle.values() for c in conns[:1]), key=_idle_since, default=None)
        if oldest is None:
            return False
        oldest.done(reuse=False)
        return True

    def _wake(self) -> None:
        """Room came (a connection went idle or closed): the oldest waiting post looks again."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        context = self._tls() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        self._connecting += 1
        try:
            async with asyncio.timeout(self._connect_timeout):
                addresses = await self._addresses(host, port)
                for i, address in enumerate(addresses):  # in the resolver's order, until one connects
                    try:
                        _, conn = await loop.create_connection(
                            lambda: _Connection(self, key),
                            address,
                            port,
                            ssl=context,
                            server_hostname=host if context is not None else None,
                        )
                        break
                    except OSError:
                        if i == len(addresses) - 1:
                            raise
        except TimeoutError:
            raise ConnectTimeout("no connection to MiniMax within the connect timeout") from None
        except OSError as exc:  # refused, unreachable, unknown host, a TLS handshake that failed
            raise ConnectFailed(f"could not connect to MiniMax ({type(exc).__name__})") from None
        finally:
            self._connecting -= 1
            if self._waiters:
                self._wake()  # made or not, the count changed: a waiter may have room now
        if self._closed:
            conn._close()
            raise ConnectFailed("the connection pool is closed")
        self._open.add(conn)
        return conn

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses: looked up once per `DNS_TTL` however many connections open at once
        (a burst of new streams would otherwise queue a lookup each in the loop's few threads)."""
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        entry = self._dns.get(host)
        if entry is None or (entry[1].done() and (entry[0] <= loop.time() or _failed(entry[1]))):
            lookup = loop.create_task(_lookup(host, port))
            lookup.add_done_callback(_failed)  # a lookup nobody waits for any more fails quietly
            entry = self._dns[host] = (loop.time() + DNS_TTL, lookup)
        return await asyncio.shield(entry[1])  # one caller giving up does not stop it for the others

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def idle(self, conn: _Connection) -> None:
        if self._closed:
            conn.done(reuse=False)
            return
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(conn.key, []).append(conn)
        self._wake()

    def forget(self, conn: _Connection) -> None:
        """A connection closed: its room is free again."""
        if conn in self._open:
            self._open.discard(conn)
            idle = self._idle.get(conn.key)
            if idle is not None and conn in idle:
                idle.remove(conn)
            self._wake()

    @property
    def connections(self) -> int:
        """Open connections, idle or in use."""
        return len(self._open)

    def close(self) -> None:
        self._closed = True
        for conn in list(self._open):
            if conn.response is not None:
                conn.response.fail(Disconnected("the gateway is closing its connections to MiniMax"))
            conn._close()
            self.forget(conn)
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)  # each looks again, and finds the pool closed


def _idle_since(conn: _Connection) -> float:
    return conn.idle_since


async def _lookup(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # each address once, in order


def _failed(lookup: asyncio.Task[list[str]]) -> bool:
    return lookup.cancelled() or lookup.exception() is not None


@functools.lru_cache(maxsize=64)
def _split(url: str) -> tuple[tuple[str, str, int], str, str, str]:
    """An absolute http(s) URL's pool key (scheme, host, port), path, query and Host header (without any
    user:password@); parsed once per URL, as a process posts to a handful."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an absolute http(s) URL is needed")
    port = parts.port or (443 if scheme == "https" else 80)
    return (scheme, parts.hostname, port), parts.path or "/", parts.query, parts.netloc.rpartition("@")[2]


def _request(target: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError("an HTTP header holds a line break")  # never sent: it would split the request
        if name.lower() not in ("host", "content-length", "transfer-encoding"):
            lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
