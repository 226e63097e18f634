"""The access log line of a stream: its body goes to the server past the middleware layers
(`BODY_SEND`), and the line still counts every byte of it, with the request id on the response."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

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
