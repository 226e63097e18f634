"""Two floors for the chat stream: relays that do nothing a relay could skip, to tell what a chunk costs in
the stack the engine is built on before the engine does anything with it (tests/bench/README.md,
"Floors").

- `floor-asgi` (`asgi_app`): the engine's own stack with nothing on it: a bare ASGI app on uvicorn
  (uvloop, httptools, the gateway's options) that POSTs the request body upstream through the
  gateway's own stream pool (`gateway.upstream.h1`) and sends each read on, unparsed, as an ASGI body
  message.
- `floor-proto` (`serve_protocols`): plain asyncio protocols on uvloop, httptools parsing both sides,
  each upstream body piece written to the client from `data_received` (no task, no ASGI message, no
  timer per read). What Python on this loop costs per chunk; nginx is the same relay in C.

Both forward MiniMax's chat stream byte for byte and keep upstream connections alive between requests,
as the gateway does. They are measuring instruments, not proxies: no errors, timeouts or flow control
beyond what a benchmark on loopback needs.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httptools

from gateway.upstream.h1 import StreamPool

CHAT = "/v1/chat/completions"
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def asgi_app(upstream: str) -> Any:
    """The bare ASGI relay (`floor-asgi`)."""
    url = upstream.rstrip("/") + CHAT
    pools: list[StreamPool] = []
    headers = {"content-type": "application/json", "accept": "text/event-stream"}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    pools.append(StreamPool(1 << 20, None))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    pools[0].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        response = await pools[0].post(url, body, headers)
        try:
            await send({"type": "http.response.start", "status": response.status, "headers": SSE_HEADERS})
            while True:
                while response.waiting():
                    await response.wait()
                if not (chunk := response.take()):
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            response.release()

    return app


class _Upstream(asyncio.Protocol):
    """One kept-alive connection to the upstream; while a request is on it, its body pieces go straight
    to `client` as HTTP chunks."""

    def __init__(self, idle: list[_Upstream]) -> None:
        self.idle = idle
        self.client: asyncio.Transport | None = None
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        assert self.client is not None
        self.client.write(b"%x\r\n%b\r\n" % (len(body), body))

    def on_message_complete(self) -> None:
        assert self.client is not None
        self.client.write(b"0\r\n\r\n")
        self.client = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.idle:
            self.idle.remove(self)


class _Client(asyncio.Protocol):
    """One client connection: each request's body is POSTed upstream on an idle connection (or a new one)."""

    def __init__(self, host: str, port: int, idle: list[_Upstream]) -> None:
        self.host, self.port, self.idle = host, port, idle
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        asyncio.get_running_loop().create_task(self._relay(body))

    async def _relay(self, body: bytes) -> None:
        if self.idle:
            upstream = self.idle.pop()
        else:
            loop = asyncio.get_running_loop()
            _, upstream = await loop.create_connection(lambda: _Upstream(self.idle), self.host, self.port)
        assert self.transport is not None and upstream.transport is not None
        upstream.client = self.transport
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        upstream.transport.write(
            b"POST %b HTTP/1.1\r\nhost: %b\r\ncontent-type: application/json\r\n"
            b"accept: text/event-stream\r\ncontent-length: %d\r\n\r\n%b"
            % (CHAT.encode(), self.host.encode(), len(body), body)
        )


async def serve_protocols(host: str, port: int, upstream: str) -> None:
    """The protocol relay (`floor-proto`), until cancelled."""
    parts = urlsplit(upstream)
    assert parts.hostname is not None and parts.port is not None
    idle: list[_Upstream] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Client(parts.hostname or "", parts.port or 0, idle), host, port, backlog=4096
    )
    async with server:
        await server.serve_forever()
