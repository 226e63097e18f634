"""The response bodies both emulated APIs write: JSON (orjson), SSE streams, and deliberate cuts.

`FrameStreamResponse` closes its frame generator as soon as the response ends, whatever ended it;
`StreamCut`, raised inside a stream body, aborts the connection on purpose (a `cut:N` fault), and
`install_cut_log_filter` keeps uvicorn from logging a traceback for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

STREAM_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "connection": "close"}


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class FrameStreamResponse(StreamingResponse):
    """Closes the frame generator when the response ends for any reason (e.g. the client left), so the
    generator's cleanup (handing a still-active run to the background runner) runs at once, not at GC."""

    def __init__(self, frames: AsyncGenerator[bytes, None]) -> None:
        super().__init__(frames, headers=STREAM_HEADERS)
        self._frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._frames.aclose()


class StreamCut(Exception):
    """Raised inside a stream body to abort the connection on purpose (`cut:N`)."""


class _CutLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, StreamCut)


def install_cut_log_filter() -> None:
    """Keep uvicorn from logging a traceback for deliberate cuts (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _CutLogFilter) for f in logger.filters):
        logger.addFilter(_CutLogFilter())
