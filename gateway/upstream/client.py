"""MiniMax's Assistants API over HTTP: REST calls with `base_resp` checks, and streamed runs.

The only module that sends requests upstream. Everything it raises is a `GatewayError`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import httpx
import orjson

from gateway.errors import GatewayError, UpstreamError
from gateway.settings import Settings
from gateway.upstream.errors import from_base_resp, from_http_status, from_transport
from gateway.upstream.frames import Frame, error_of, parse_frame
from gateway.upstream.sse_decoder import SSEDecoder

log = logging.getLogger("gateway.upstream")


class UpstreamStream:
    """An open `create_stream` response, read as batches of frames: one batch per network read."""

    def __init__(self, response: httpx.Response, ids: Collection[str] = ()) -> None:
        self._response = response
        self._ids = ids  # ids the request names, for error mapping
        self._chunks = response.aiter_raw()
        self._decoder = SSEDecoder()
        self._pending: list[Frame] | None = None  # frames read by `open()`
        self._ended = False
        self.skipped = 0  # payloads that were not MiniMax frames (keep-alives, garbage)

    async def open(self) -> None:
        """Read up to the first frame. An error there is a rejection of the request: raise it."""
        first: list[Frame] = []
        while (payloads := await self._next_read()) is not None:
            first.extend(self._parse(payloads))
            if first:
                if first[0].kind == "error":
                    raise from_base_resp(first[0].data["code"], first[0].data["message"], ids=self._ids)
                self._pending = first
                return
        raise UpstreamError("MiniMax ended the stream before sending a frame")

    async def next_batch(self) -> list[Frame] | None:
        """The frames of the next read (maybe none); None once the body ended cleanly.
        A broken connection raises `GatewayError`: a cut stream never looks like a clean end."""
        if self._pending is not None:
            batch, self._pending = self._pending, None
            return batch
        payloads = await self._next_read()
        return None if payloads is None else self._parse(payloads)

    async def _next_read(self) -> list[bytes] | None:
        if self._ended:
            return None
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._ended = True
            return self._decoder.finish() or None
        except httpx.HTTPError as exc:
            raise from_transport(exc) from None
        return self._decoder.feed(chunk)

    def _parse(self, payloads: list[bytes]) -> list[Frame]:
        frames = []
        for payload in payloads:
            frame = parse_frame(payload)
            if frame is None:
                self.skipped += 1
            else:
                frames.append(frame)
        return frames

    async def aclose(self) -> None:
        if self.skipped:
            log.warning("skipped %d upstream payloads that were not MiniMax frames", self.skipped)
        await self._response.aclose()


class MiniMaxClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._base = settings.upstream_v1()
        self._http = http
        self._own_key = settings.minimax_api_key
        self._params = {"GroupId": settings.minimax_group_id} if settings.minimax_group_id else {}

    def _headers(self, client_key: str | None) -> dict[str, str]:
        key = self._own_key.get_secret_value() if self._own_key is not None else client_key
        return {"Authorization": f"Bearer {key or ''}", "Content-Type": "application/json"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        ids_only: bool = False,
        ids: Collection[str] = (),
    ) -> dict[str, Any]:
        """One REST call; returns the object (envelope removed) or raises the mapped error."""
        query = {**self._params, **{k: v for k, v in (params or {}).items() if v is not None}}
        try:
            response = await self._http.request(
                method,
                f"{self._base}/{path}",
                params=query,
                headers=self._headers(key),
                content=orjson.dumps(body) if body is not None else None,
            )
        except httpx.HTTPError as exc:
            raise from_transport(exc) from None
        return _json_result(response.status_code, response.content, response.headers, ids_only, ids)

    async def open_stream(
        self, body: dict[str, Any], *, key: str | None, ids: Collection[str] = ()
    ) -> UpstreamStream:
        """Start `create_stream` and read up to its first frame, so that a rejection (HTTP error,
        JSON error body, error frame) raises here, before the client's stream has started."""
        request = self._http.build_request(
            "POST",
            f"{self._base}/threads/run/create_stream",
            params=self._params,
            headers={**self._headers(key), "Accept": "text/event-stream"},
            content=orjson.dumps(body),
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise from_transport(exc) from None
        try:
            if response.status_code != 200:
                content = await response.aread()
                _json_result(response.status_code, content, response.headers, ids=ids)
            stream = UpstreamStream(response, ids)
            await stream.open()
            return stream
        except BaseException:
            await response.aclose()
            raise


def _json_result(
    status: int, content: bytes, headers: httpx.Headers, ids_only: bool = False, ids: Collection[str] = ()
) -> dict[str, Any]:
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError:
        doc = None
    if status != 200:
        message = ""
        if isinstance(doc, dict):
            failure = error_of(doc.get("base_resp"))
            message = failure[1] if failure else str(doc.get("message") or doc.get("error") or "")
        raise from_http_status(status, message, headers.get("retry-after"))
    if not isinstance(doc, dict):
        raise UpstreamError("MiniMax answered with a body that is not a JSON object")
    failure = error_of(doc.get("base_resp"))
    if failure is not None:
        raise from_base_resp(*failure, ids_only=ids_only, ids=ids)
    doc.pop("base_resp", None)
    return doc


__all__ = ["GatewayError", "MiniMaxClient", "UpstreamStream"]
