"""Request ids: a client's is kept, one is made otherwise; either is returned and sent to MiniMax."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.scripted import RUN, body, frame, gateway, start, text


def test_request_id_is_kept_returned_and_sent_upstream() -> None:
    seen: list[str] = []

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"]).get(b"x-request-id", b"").decode())
        await start(send)
        await body(send, frame(RUN) + text("x"), more=False)

    with gateway(script) as base:
        given = httpx.post(
            f"{base}/threads/t/runs",
            json={"assistant_id": "a", "stream": True},
            headers={"Authorization": "Bearer k", "X-Request-ID": "req-abc"},
        )
        made = httpx.post(
            f"{base}/threads/t/runs",
            json={"assistant_id": "a", "stream": True},
            headers={"Authorization": "Bearer k"},
        )
    assert given.headers["x-request-id"] == "req-abc" and seen[0] == "req-abc"
    assert len(made.headers["x-request-id"]) == 32 and seen[1] == made.headers["x-request-id"]
