"""The app's error handlers: every failure becomes an OpenAI-shaped error body with its status."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.responses import JSON
from gateway.errors import GatewayError, InvalidRequest, NotFound

log = logging.getLogger("gateway")


async def gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.warning("upstream failure on %s %s: %s", request.method, request.url.path, exc.message)
    headers = exc.headers()
    if exc.status >= 500 and request.method == "POST" and exc.reached_upstream:
        # The SDKs retry any 5xx; a POST the upstream may have acted on (a run started?) must not repeat.
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
