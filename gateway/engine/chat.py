"""MiniMax chat completions over HTTP: open a streamed completion, read its SSE payloads.

The engine's only module that calls MiniMax. A rejection before the stream (an HTTP error in
either of MiniMax's two shapes, or an HTTP 200 carrying a failing `base_resp`) raises the mapped
`GatewayError` here, before any client event; what goes wrong later raises from `next_payloads`.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import orjson

from gateway.errors import GatewayError, UpstreamError
from gateway.logs import request_id
from gateway.settings import Settings
from gateway.upstream.base_resp import failure_code
from gateway.upstream.errors import TRANSPORT_FAILURES, from_base_resp, from_http_status
from gateway.upstream.h1 import Response
from gateway.upstream.http import StreamPost
from gateway.upstream.sse_body import SSEBody

CHAT_PATH = "chat/completions"
_CODE_IN_TEXT = re.compile(r"\((\d{4})\)")


def rejection(status: int, content: bytes, retry_after: str | None = None) -> GatewayError:
    """The error of a non-stream answer: MiniMax's native `base_resp`, its OpenAI-compatible
    `{"type": "error", "error": {...}}` (the code, when the message names one, decides), or a bare
    HTTP status."""
    try:
        doc: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        base = doc.get("base_resp")
        if isinstance(base, dict) and (code := failure_code(base)) is not None:
            return from_base_resp(code, str(base.get("status_msg") or base.get("message") or ""))
        err = doc.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("type") or "")
            if found := _CODE_IN_TEXT.search(message):
                return from_base_resp(int(found[1]), message)
            return from_http_status(status, message, retry_after)
    if status == 200:
        return UpstreamError("MiniMax answered a streamed chat completion with no stream")
    return from_http_status(status, content[:200].decode("utf-8", "replace"), retry_after)


class ChatClient:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession, streams: StreamPost) -> None:
        self._url = f"{settings.upstream_v1()}/{CHAT_PATH}"
        self._session = session
        self._first_byte = settings.first_byte_timeout
        self._post = streams

    async def reachable(self) -> bool:
        """Whether MiniMax's host answers HTTP at all (any status): half of the readiness check."""
        try:
            async with self._session.head(self._url, timeout=aiohttp.ClientTimeout(total=self._first_byte)):
                return True
        except TRANSPORT_FAILURES:
            return False

    async def open(self, body: dict[str, Any], api_key: str) -> SSEBody:
        """POST a streamed completion and wait for its headers (within `first_byte_timeout`)."""
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",  # a compressed event stream would be held back in buffers
            "X-Request-ID": request_id.get(),
        }
        return await self._post.open(
            self._url,
            orjson.dumps(body),
            headers,
            call=CHAT_PATH,
            accept=_stream_of,
            error_label=_error_label,
            late="MiniMax did not answer the chat completion in time",
        )


async def _stream_of(response: Response) -> SSEBody:
    """The answer's event stream, or the rejection it is instead."""
    if response.status != 200 or not response.content_type.startswith("text/event-stream"):
        content = await response.read()
        raise rejection(response.status, content, response.headers.get("retry-after"))
    return SSEBody(response)


def _error_label(exc: GatewayError, status: int | None) -> str | None:
    """A rejection is counted by the error's code or status; a call that never got an answer is not
    (`retrying` counted it, by the HTTP library's class)."""
    return None if status is None else str(exc.code or exc.status)
