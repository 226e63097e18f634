"""Per-request plumbing as one ASGI middleware: request id, header and body limits, draining refusal,
access log line and request metrics. Pure ASGI (no per-chunk task or copy), so streams pass straight
through. A client that leaves while sending its body is logged once and counted as 499 (nginx's
"client closed request"), and nothing is written to it.

An event stream writes a body message per upstream read, and each layer between the route and the
server (Starlette's exception wrapper, this middleware, its error middleware, CORS) is a coroutine
call on it that only ever acts on the response's start. So where the app handed over the server's own
`send` (`SERVER_SEND`, see `gateway.app`), the request's state offers `BODY_SEND`: a body message
counted here and given straight to the server; and, where that server is uvicorn's httptools protocol,
`BODY_WRITE_NOW`: a body piece counted here and written in a plain call (`gateway.body_writes`). The
response's start still goes through every layer."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

import orjson
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.body_writes import PlainWrite, plain_writer
from gateway.entropy import token_hex
from gateway.errors import GatewayError, InvalidRequest
from gateway.lifecycle import Lifecycle, Overloaded
from gateway.logs import request_id
from gateway.metrics import Metrics
from gateway.stream.response import BODY_SEND, BODY_WRITE_NOW

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.access")
ALWAYS_SERVED = frozenset({"/healthz", "/readyz", "/metrics"})
UPLOAD_PATH = "/v1/files"  # POSTed multipart files, bounded by `max_upload_bytes` instead of the body limit
UPLOAD_SLACK = 1 << 20  # the form's other fields and its part headers, beyond the file's own bytes
MAX_HEADER_LINE = 8192  # nginx's large_client_header_buffers 4 8k: no one header line beyond 8 KB
CLIENT_GONE = 499
SERVER_SEND = "gateway.server_send"  # scope key: the ASGI server's own `send`, set by the app


class TooLarge(InvalidRequest):
    """413: raised before the app when Content-Length says so, inside it when a body streams past."""

    status = 413


class HeadersTooLarge(InvalidRequest):
    """431 Request Header Fields Too Large: refused before any route runs."""

    status = 431


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[Route],
        lifecycle: Lifecycle,
        metrics: Metrics,
        max_body_bytes: int,
        max_upload_bytes: int,
        max_header_bytes: int,
        max_headers: int,
    ) -> None:
        self.app = app
        self.routes = routes
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes + UPLOAD_SLACK
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers

    def _route(self, scope: Scope) -> str:
        """The route template, for metrics: as Starlette's router matched it, else matched here."""
        matched = scope.get("route")
        if isinstance(matched, Route):
            return matched.path
        for route in self.routes:
            if route.matches(scope)[0] is not Match.NONE:
                return route.path
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _header(scope, b"x-request-id") or token_hex()
        token = request_id.set(rid[:128])
        start = time.monotonic()
        scope.setdefault("state", {})["started"] = start  # for the stream's time-to-first-event
        exchange = _Exchange(receive, send, request_id.get().encode(), self._limit(scope))
        # Taken out of the scope at once, and the writer out of its state in `finally`: the server's
        # `send` holds the server's request object, which holds the scope (a cycle per request, else).
        if (server_send := scope.pop(SERVER_SEND, None)) is not None:
            exchange.direct = server_send
            scope["state"][BODY_SEND] = exchange.body
            if (plain := plain_writer(server_send)) is not None:
                exchange.plain = plain
                scope["state"][BODY_WRITE_NOW] = exchange.body_now
        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await _error(refusal, exchange.send)
            else:
                await self.app(scope, exchange.receive, exchange.send)
        except ClientDisconnect:
            exchange.status = CLIENT_GONE
            log.info("client went away while sending its request", extra={"path": scope["path"]})
        finally:
            scope["state"].pop(BODY_SEND, None)
            scope["state"].pop(BODY_WRITE_NOW, None)
            route = self._route(scope)
            status = exchange.status
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            if scope["path"] not in ALWAYS_SERVED:
                access.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round((time.monotonic() - start) * 1000, 1),
                        "bytes": exchange.sent,
                    },
                )
            request_id.reset(token)

    def _limit(self, scope: Scope) -> int:
        upload = scope["method"] == "POST" and scope["path"] == UPLOAD_PATH
        return self.max_upload if upload else self.max_body

    def _refusal(self, scope: Scope) -> GatewayError | None:
        too_large = self._headers_refusal(scope)
        if too_large is not None:
            return too_large
        if self.lifecycle.draining and scope["path"] not in ALWAYS_SERVED:
            return Overloaded("The gateway is shutting down; retry on another instance")
        length = _header(scope, b"content-length")
        limit = self._limit(scope)
        if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
            return TooLarge(f"The request body is larger than {limit} bytes")
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            # No id or cursor holds one, and PostgreSQL cannot even compare with one.
            return InvalidRequest("The URL contains a NUL character")
        return None

    def _headers_refusal(self, scope: Scope) -> HeadersTooLarge | None:
        """The header block as sent (`name: value` CRLF per line): its size, count, longest line."""
        max_bytes, max_count = self.max_header_bytes, self.max_headers
        headers = scope["headers"]
        if len(headers) > max_count:
            return HeadersTooLarge(
                f"The request has {len(headers)} headers; at most {max_count} are accepted"
            )
        lines = [len(name) + len(value) + 2 for name, value in headers]
        if lines and max(lines) > MAX_HEADER_LINE:
            return HeadersTooLarge(f"A request header line is longer than {MAX_HEADER_LINE} bytes")
        if sum(lines) + 2 * len(lines) > max_bytes:
            return HeadersTooLarge(f"The request's headers are larger than {max_bytes} bytes")
        return None


class _Exchange:
    """One request as the middleware sees it: the status and bytes it answered with (for the
    access log), the request id on the response, and the body limit on what it receives (streamed
    bodies without Content-Length are counted too). One slotted object: it lives as long as a stream."""

    __slots__ = ("_receive", "_send", "direct", "limit", "plain", "rid", "seen", "sent", "status")

    def __init__(self, receive: Receive, send: Send, rid: bytes, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.rid = rid
        self.limit = limit
        self.seen = self.sent = self.status = 0
        self.direct: Send = send  # the server's own, when the app gave it (`BODY_SEND`)
        self.plain: PlainWrite | None = None  # its plain writer, if it has one (`BODY_WRITE_NOW`)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", self.rid)]
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))
        await self._send(message)

    def body(self, message: Message) -> Awaitable[None]:
        """A body message after the response's start, counted and handed to the server's `send`
        (see the module doc): a plain call returning the server's awaitable, not a coroutine of its own."""
        self.sent += len(message["body"])
        return self.direct(message)

    def body_now(self, piece: bytes) -> bool:
        """A body piece that is not the last, counted and written at once by the server's plain writer:
        True; False if it cannot take it now (nothing written: send it as a body message)."""
        if self.plain is not None and self.plain(piece):
            self.sent += len(piece)
            return True
        return False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise TooLarge(f"The request body is larger than {self.limit} bytes")
        return message


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


async def _error(exc: GatewayError, send: Send) -> None:
    body = orjson.dumps(exc.body())
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()]
    if isinstance(exc, Overloaded):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
