"""An ASGI response that streams SSE bytes and stops its producer the moment the client leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.types import Receive, Scope, Send

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx (and ingress-nginx): do not buffer this response
]


class EventStream:
    """Sends `body`'s chunks as they come. A disconnect cancels the producer, whose `finally`
    blocks then close the upstream request; no task or queue per event, one watcher per stream."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                async for chunk in self._body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass  # the client went away mid-send
            finally:
                await self._close_body()
                group.cancel_scope.cancel()

    async def _close_body(self) -> None:
        aclose = getattr(self._body, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()
