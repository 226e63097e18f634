"""Keep-alive pings hold a stream open while MiniMax is slow to send."""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from tests.api.scripted import RUN, body, frame, gateway, start, text
from tests.stream_checks import check, parse_sse


def post_run(base: str) -> httpx.Response:
    return httpx.post(
        f"{base}/threads/t/runs",
        json={"assistant_id": "a", "stream": True},
        headers={"Authorization": "Bearer k"},
        timeout=10,
    )


def test_keepalive_pings_hold_a_stalled_stream_open() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("Hel"))
        await anyio.sleep(1.2)  # a slow first token, longer than a proxy's idle timeout would allow
        await body(send, text("lo"), more=False)

    with gateway(script, keepalive_interval=0.2, idle_timeout=5) as base:
        response = post_run(base)
    pings = response.text.count(": ping\n\n")
    assert pings >= 3, response.text
    assert check(parse_sse(response.content)).texts == {"msg_1": "Hello"}


def test_a_stream_that_keeps_sending_gets_no_pings() -> None:
    """Every write (those made in plain calls too, `gateway.body_writes`) counts as the stream speaking:
    a frame every 50 ms for 1.5 s, with pings due after 0.5 s of silence, gets none."""

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("0"))
        for n in range(1, 30):
            await anyio.sleep(0.05)
            await body(send, text(str(n)))
        await body(send, text("."), more=False)

    with gateway(script, keepalive_interval=0.5, idle_timeout=5) as base:
        response = post_run(base)
    assert response.text.count(": ping") == 0, response.text
    texts = check(parse_sse(response.content)).texts
    assert texts == {"msg_1": "".join(str(n) for n in range(30)) + "."}
