"""uvicorn's HTTP protocol (httptools) with deadlines for receiving a request.

A request's head must arrive within `head_timeout` of the connection (or of the request's first
byte on a kept-alive connection), its body within `body_timeout` of the head, or, for a large body
(a file upload), each further `BODY_STRIDE` bytes of it within `body_timeout` of the last: a large
upload may take as long as it needs while it moves at more than ~2 KB/s. A client slower than that
gets a 408 (head) or its connection closed (body: the app sees the client leave), so a half-sent
request cannot hold a connection forever. uvicorn has no such bound for httptools.
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = orjson.dumps(
    {
        "error": {
            "message": "The request was not received in time",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_timeout",
        }
    }
)
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n" % len(_BODY) + _BODY
)


BODY_STRIDE = 64 * 1024


class DeadlineProtocol(HttpToolsProtocol):
    head_timeout = 10.0
    body_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _body_mark = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout, self._head_late)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.head_timeout, self._head_late)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.parser is not None and not self.parser.should_upgrade():
            self._body_mark = BODY_STRIDE
            self._arm(self.body_timeout, self._body_late)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._deadline is not None:
            self._body_mark -= len(body)
            if self._body_mark <= 0:
                self._body_mark = BODY_STRIDE
                self._arm(self.body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, late: object) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, late)  # type: ignore[arg-type]

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    def _body_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def deadline_protocol(head_timeout: float, body_timeout: float) -> type[DeadlineProtocol]:
    """The protocol class uvicorn takes as `http=`, with these deadlines."""
    attrs = {"head_timeout": head_timeout, "body_timeout": body_timeout}
    return type("GatewayHttpProtocol", (DeadlineProtocol,), attrs)
