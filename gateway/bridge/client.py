"""MiniMax's Assistants API over HTTP: REST calls with `base_resp` checks, and streamed runs.

The bridge's only module that sends requests upstream (REST through httpx, streams through
`gateway.upstream.h1`: see `stream.py`; retries and the first-byte deadline are
`gateway.upstream.http`'s, shared with the engine). Everything it raises is a `GatewayError`
(transport failures are mapped in `gateway.upstream.errors`, MiniMax's answers here, once): which
calls name only ids (a "bad parameters" answer to them means an unknown id, 404) is data
(`ID_ONLY`), not a flag at each call site.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from functools import partial
from typing import Any, Final, NamedTuple

import httpx
import orjson

from gateway.bridge.frames import error_of
from gateway.bridge.stream import UpstreamStream
from gateway.errors import GatewayError, UpstreamError
from gateway.logs import request_id
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.upstream.errors import TRANSPORT_FAILURES, from_base_resp, from_http_status
from gateway.upstream.h1 import Response
from gateway.upstream.http import LARGE_BODY, StreamPost, retrying

ID_ONLY: Final = frozenset(
    {
        "assistants/retrieve",
        "assistants/modify",
        "assistants/delete",
        "threads/retrieve",
        "threads/modify",
        "threads/messages/add",
        "threads/messages/list",
        "threads/messages/retrieve",
        "threads/run/list",
        "threads/run/retrieve",
        "threads/run/modify",
        "threads/run/cancel",
        "threads/run/submit_tool_outputs",
        "threads/run_steps/list",
        "threads/run_steps/retrieve",
    }
)
"""Calls whose every parameter that MiniMax can reject is an id."""


def named_ids(*parts: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The object ids a call's query or body names (`thread_id`, `assistant_id`, ...)."""
    return tuple(
        v for part in parts for k, v in (part or {}).items() if k.endswith("_id") and isinstance(v, str)
    )


class Credentials(NamedTuple):
    """What authenticates a call upstream: a MiniMax key, and the GroupId to send (if any)."""

    key: str
    group_id: str | None = None


class MiniMaxClient:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        streams: StreamPost,
        metrics: Metrics,
    ) -> None:
        self._base = settings.upstream_v1()
        self._http = http
        self._stream_url = f"{self._base}/threads/run/create_stream"
        self._post = streams
        self._metrics = metrics
        self._retries = settings.upstream_retries
        self._first_byte = httpx.Timeout(settings.first_byte_timeout, connect=settings.connect_timeout)
        self._idle = httpx.Timeout(settings.idle_timeout, connect=settings.connect_timeout)

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
        data = orjson.dumps(body) if body is not None else None
        return self._http.build_request(
            method,
            f"{self._base}/{path}",
            params=query,
            headers=_headers(auth),
            content=_pieces(data) if data is not None and len(data) > LARGE_BODY else data,
            timeout=timeout,
        )

    async def _send(self, request: Callable[[], httpx.Request]) -> httpx.Response:
        """Send (a new request each attempt: a large body is a stream, read once)."""
        return await retrying(
            lambda: self._http.send(request()), retries=self._retries, metrics=self._metrics
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        auth: Credentials,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One REST call; returns the object (envelope removed) or raises the mapped error."""
        ids_only, ids = path in ID_ONLY, named_ids(params, body)
        started = time.monotonic()
        response = await self._send(
            partial(self._request, method, path, auth, params, body, self._first_byte)
        )
        self._metrics.upstream_latency.labels(call=path).observe(time.monotonic() - started)
        try:
            return _json_result(response.status_code, response.content, response.headers, ids_only, ids)
        except GatewayError as exc:
            self._metrics.upstream_errors.labels(code=_code_of(exc, response.status_code)).inc()
            raise

    async def open_stream(self, body: dict[str, Any], *, auth: Credentials) -> UpstreamStream:
        """Start `create_stream` and read up to its first frame, so that a rejection (HTTP error,
        JSON error body, error frame) raises here, before the client's stream has started. Reads
        then time out after `idle_timeout` of silence; the first frame after `first_byte_timeout`."""
        headers = _headers(auth)
        headers["Accept"] = "text/event-stream"
        headers["Accept-Encoding"] = "identity"  # a compressed event stream would be held back in buffers
        params = {"GroupId": auth.group_id} if auth.group_id else None
        ids = named_ids(body)

        async def first_frame(response: Response) -> UpstreamStream:
            if response.status != 200:
                _json_result(response.status, await response.read(), response.headers, ids=ids)
            stream = UpstreamStream(response, ids)
            await stream.open()
            return stream

        return await self._post.open(
            self._stream_url,
            orjson.dumps(body),
            headers,
            params=params,
            call="threads/run/create_stream",
            accept=first_frame,
            error_label=_stream_error_label,
            late="MiniMax did not start the stream in time",
        )

    async def reachable(self) -> bool:
        """Whether MiniMax's host answers HTTP at all (any status): the readiness check."""
        try:
            await self._http.request("HEAD", self._base, timeout=self._first_byte)
        except TRANSPORT_FAILURES:
            return False
        return True


async def _pieces(data: bytes, size: int = 1 << 16) -> AsyncIterator[bytes]:
    """A large body in pieces (aiohttp would write it whole, and warn that it may stall the loop)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _headers(auth: Credentials) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {auth.key}",
        "Content-Type": "application/json",
        "X-Request-ID": request_id.get(),
    }


def _code_of(exc: GatewayError, status: int) -> str:
    """The metric label of a MiniMax failure: its base_resp code, else the HTTP status."""
    code = exc.message.removeprefix("MiniMax error ").split(":", 1)[0]
    return code if code.isdigit() else f"http_{status}"


def _stream_error_label(exc: GatewayError, status: int | None) -> str | None:
    """A stream's rejection is counted as a REST call's; one that never got an answer is not (`retrying`
    counted it)."""
    return None if status is None else _code_of(exc, status)


def _json_result(
    status: int, content: bytes, headers: Mapping[str, str], ids_only: bool = False, ids: Collection[str] = ()
) -> dict[str, Any]:
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError:
        doc = None
    if status == 404:  # a path MiniMax does not serve: the Assistants API is gone for this account
        raise UpstreamError(
            "MiniMax answered 404 to an Assistants API call: it is not served for this account or host. "
            "Run the gateway with BACKEND=engine, which serves Assistants over MiniMax's chat completions."
        )
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
