"""MiniMax's Assistants API over HTTP: REST calls with `base_resp` checks, and streamed runs.

The only module that sends requests upstream. Everything it raises is a `GatewayError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any, NamedTuple

import anyio
import httpx
import orjson

from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout
from gateway.logs import request_id
from gateway.metrics import Metrics
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


class Credentials(NamedTuple):
    """What authenticates a call upstream: a MiniMax key, and the GroupId to send (if any)."""

    key: str
    group_id: str | None = None


class MiniMaxClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, metrics: Metrics) -> None:
        self._base = settings.upstream_v1()
        self._http = http
        self._metrics = metrics
        self._retries = settings.upstream_retries
        self._first_byte = httpx.Timeout(settings.first_byte_timeout, connect=settings.connect_timeout)
        self._idle = httpx.Timeout(settings.idle_timeout, connect=settings.connect_timeout)
        self._first_byte_seconds = settings.first_byte_timeout

    def _request(
        self,
        method: str,
        path: str,
        auth: Credentials,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        timeout: httpx.Timeout,
    ) -> httpx.Request:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if auth.group_id:
            query["GroupId"] = auth.group_id
        headers = {
            "Authorization": f"Bearer {auth.key}",
            "Content-Type": "application/json",
            "X-Request-ID": request_id.get(),
        }
        return self._http.build_request(
            method,
            f"{self._base}/{path}",
            params=query,
            headers=headers,
            content=orjson.dumps(body) if body is not None else None,
            timeout=timeout,
        )

    async def _send(self, request: httpx.Request, stream: bool = False) -> httpx.Response:
        """Send, retrying (with backoff) only failures where nothing reached MiniMax: never a duplicate."""
        for attempt in range(self._retries + 1):
            try:
                return await self._http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                error = from_transport(exc)
                if error.reached_upstream or attempt == self._retries:
                    self._metrics.upstream_errors.labels(code=type(exc).__name__).inc()
                    raise error from None
                await anyio.sleep(0.1 * 3**attempt)
        raise AssertionError("unreachable")

    async def call(
        self,
        method: str,
        path: str,
        *,
        auth: Credentials,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        ids_only: bool = False,
        ids: Collection[str] = (),
    ) -> dict[str, Any]:
        """One REST call; returns the object (envelope removed) or raises the mapped error."""
        started = time.monotonic()
        response = await self._send(self._request(method, path, auth, params, body, self._first_byte))
        self._metrics.upstream_latency.labels(call=path).observe(time.monotonic() - started)
        try:
            return _json_result(response.status_code, response.content, response.headers, ids_only, ids)
        except GatewayError as exc:
            self._metrics.upstream_errors.labels(code=_code_of(exc, response)).inc()
            raise

    async def open_stream(
        self, body: dict[str, Any], *, auth: Credentials, ids: Collection[str] = ()
    ) -> UpstreamStream:
        """Start `create_stream` and read up to its first frame, so that a rejection (HTTP error,
        JSON error body, error frame) raises here, before the client's stream has started. Reads
        then time out after `idle_timeout` of silence; the first frame after `first_byte_timeout`."""
        request = self._request("POST", "threads/run/create_stream", auth, None, body, self._idle)
        request.headers["Accept"] = "text/event-stream"
        started = time.monotonic()
        response: httpx.Response | None = None
        try:
            with anyio.fail_after(self._first_byte_seconds):
                response = await self._send(request, stream=True)
                if response.status_code != 200:
                    content = await response.aread()
                    _json_result(response.status_code, content, response.headers, ids=ids)
                stream = UpstreamStream(response, ids)
                await stream.open()
            self._metrics.upstream_latency.labels(call="threads/run/create_stream").observe(
                time.monotonic() - started
            )
            return stream
        except TimeoutError:
            if response is not None:
                await response.aclose()
            self._metrics.upstream_errors.labels(code="first_byte_timeout").inc()
            raise UpstreamTimeout("MiniMax did not start the stream in time") from None
        except BaseException as exc:
            if response is not None:
                await response.aclose()
            if isinstance(exc, GatewayError) and response is not None:
                self._metrics.upstream_errors.labels(code=_code_of(exc, response)).inc()
            raise

    async def reachable(self) -> bool:
        """Whether MiniMax's host answers HTTP at all (any status): the readiness check."""
        try:
            await self._http.request("HEAD", self._base, timeout=self._first_byte)
        except httpx.HTTPError:
            return False
        return True


def _code_of(exc: GatewayError, response: httpx.Response) -> str:
    """The metric label of a MiniMax failure: its base_resp code, else the HTTP status."""
    code = exc.message.removeprefix("MiniMax error ").split(":", 1)[0]
    return code if code.isdigit() else f"http_{response.status_code}"


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
