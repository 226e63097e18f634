"""The open-stream limit: a stream over it is refused with 503 + Retry-After before reaching MiniMax."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import anyio
import httpx

from tests.api.scripted import RUN, body, frame, gateway, start


def test_stream_limit_answers_503_with_retry_after() -> None:
    release = threading.Event()
    calls = 0

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal calls
        calls += 1
        await start(send)
        await body(send, frame(RUN))
        while not release.is_set():
            await anyio.sleep(0.02)
        await body(send, b"", more=False)

    async def scenario(base: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10, headers={"Authorization": "Bearer k"}) as http:
            body_ = {"assistant_id": "a", "stream": True}
            holders = [http.stream("POST", f"{base}/threads/t/runs", json=body_) for _ in range(2)]
            opened = [await h.__aenter__() for h in holders]
            assert [r.status_code for r in opened] == [200, 200]
            third = await http.post(f"{base}/threads/t/runs", json=body_)
            release.set()
            for h in holders:
                await h.__aexit__(None, None, None)
            return third.status_code, dict(third.headers), third.json()

    with gateway(script, max_streams=2) as base:
        status, headers, error = asyncio.run(scenario(base))
    assert status == 503 and headers["retry-after"] == "1"
    assert error["error"]["code"] == "overloaded"
    assert calls == 2  # the refused stream never reached MiniMax
    assert "x-should-retry" not in headers  # so the SDKs may retry it
