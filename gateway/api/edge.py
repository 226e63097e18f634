"""Request/response plumbing shared by the routes: body validation, keys, JSON answers, errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.errors import GatewayError, InvalidRequest, NotFound, Unauthorized

log = logging.getLogger("gateway")
M = TypeVar("M", bound=BaseModel)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Streaming:
    """A route endpoint that may answer with a stream, called as plain ASGI. Starlette would wrap a
    function endpoint in `request_response`, whose frames and exception-handler closures then stay
    alive for the stream's whole life; errors reach the same handlers through ExceptionMiddleware."""

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[[Request], Awaitable[Any]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


async def parse(request: Request, model: type[M]) -> M:
    """Validate the JSON body; a failure is a 400 naming the offending `param`."""
    raw = await request.body()
    try:
        doc = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a JSON object")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "literal")))
        kind = "Missing required parameter" if first["type"] == "missing" else "Invalid value"
        raise InvalidRequest(f"{kind}: '{param}' ({first['msg']})", param=param or None) from None


def client_key(request: Request) -> str:
    """The client's Bearer key; every API route needs one."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    raise Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.")


def list_page(data: list[dict[str, Any]], upstream: dict[str, Any], limit: int) -> dict[str, Any]:
    """OpenAI's cursor page. MiniMax may omit `has_more`; then a full page says "maybe more"."""
    has_more = upstream.get("has_more")
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": bool(has_more) if isinstance(has_more, bool) else len(data) >= limit,
    }


async def gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.warning("upstream failure on %s %s: %s", request.method, request.url.path, exc.message)
    headers = exc.headers()
    if exc.status >= 500 and request.method == "POST" and exc.reached_upstream:
        # The SDKs retry any 5xx; a POST MiniMax may have acted on (a run started?) must not repeat.
        headers["x-should-retry"] = "false"
    return JSON(exc.body(), status_code=exc.status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err: GatewayError = NotFound(f"Invalid URL ({request.method} {request.url.path})")
    else:
        err = InvalidRequest(f"{exc.detail} ({request.method} {request.url.path})")
        err.status = exc.status_code
    return JSON(err.body(), status_code=err.status)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSON(GatewayError("The gateway failed to process the request").body(), status_code=500)
