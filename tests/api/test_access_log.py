"""The access log line of a stream: its body goes to the server past the middleware layers
(`BODY_SEND`, and written in plain calls: `BODY_WRITE_NOW`), and the line still counts every byte of
it, with the request id on the response; the scope keeps no way to the server's `send` once the request
is over."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from gateway.api.middleware import SERVER_SEND
from gateway.stream.response import BODY_SEND, BODY_WRITE_NOW
from tests.api.scripted import AUTH, RUN, RUN_BODY, body, frame, gateway, start, text


def test_a_streams_access_log_counts_every_byte_sent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN))
        for piece in ("one ", "two ", "three"):
            await body(send, text(piece))
        await body(send, frame({**RUN, "status": "completed"}), more=False)

    with gateway(script) as base:
        answer = httpx.post(f"{base}/threads/thread_1/runs", json=RUN_BODY, headers=AUTH)

    assert answer.status_code == 200 and b"thread.message.delta" in answer.content
    assert len(answer.headers["x-request-id"]) == 32
    lines = [r for r in caplog.records if r.name == "gateway.access" and "/runs" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].__dict__["status"] == 200
    assert lines[0].__dict__["bytes"] == len(answer.content) > 0


def test_the_scope_keeps_no_way_to_the_servers_send_afterwards() -> None:
    """The server's `send` holds the server's request object, which holds the scope: if the scope
    kept that send, or the body writer over it, every request would leave a reference cycle."""
    scopes: list[dict[str, Any]] = []

    def wrap(app: Any) -> Any:
        async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await app(scope, receive, send)
            if scope["type"] == "http":
                scopes.append(scope)

        return outer

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("x") + frame({**RUN, "status": "completed"}), more=False)

    with gateway(script, wrap=wrap) as base:
        answer = httpx.post(f"{base}/threads/thread_1/runs", json=RUN_BODY, headers=AUTH)
    assert b"thread.message.delta" in answer.content
    assert len(scopes) == 1
    assert SERVER_SEND not in scopes[0]
    assert BODY_SEND not in scopes[0]["state"] and BODY_WRITE_NOW not in scopes[0]["state"]
