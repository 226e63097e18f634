"""Map MiniMax failures (HTTP statuses, `base_resp` codes, transport errors) to the gateway's errors.

`base_resp` codes are from MiniMax's error-code table (wire note §6). A code that means "bad
parameters" on a call whose only parameters are ids means an unknown id: 404, as OpenAI answers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import aiohttp
import httpx

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
)

_AUTH = {1004, 2049}
_RATE = {1002, 1039, 1041, 2045, 2056}
_QUOTA = {1008, 1028, 1030}
_FILTER = {1026, 1027}
_BAD_PARAMS = {2013, 1042, 2061}
_TIMEOUT = {1001}


def from_base_resp(
    code: int,
    message: str,
    *,
    ids_only: bool = False,
    ids: Collection[str] = (),
    retry_after: int | None = None,
) -> GatewayError:
    """`ids_only`: the call's parameters are all ids; `ids`: ids the call names (a "bad params" that
    names one of them means that object does not exist)."""
    text = f"MiniMax error {code}: {message}"
    if code in _AUTH:
        return Unauthorized(text)
    if code in _RATE:
        return RateLimited(text, retry_after=retry_after)
    if code in _QUOTA:
        return RateLimited(text, code="insufficient_quota")
    if code in _FILTER:
        return InvalidRequest(text, code="content_filter")
    if code in _BAD_PARAMS:
        unknown_id = ids_only or any(i and i in message for i in ids)
        return NotFound(text) if unknown_id else InvalidRequest(text)
    if code in _TIMEOUT:
        return UpstreamTimeout(text)
    return UpstreamError(text)


# MiniMax codes -> a run's `last_error.code` (OpenAI knows three).
_RUN_ERROR_CODES: Final[dict[int, str]] = {
    **{code: "rate_limit_exceeded" for code in _RATE},
    **{code: "invalid_prompt" for code in _FILTER},
}


def last_error_code(minimax_code: int) -> str:
    """The `last_error.code` of a run MiniMax failed with this code."""
    return _RUN_ERROR_CODES.get(minimax_code, "server_error")


def from_http_status(status: int, message: str, retry_after: str | None) -> GatewayError:
    text = f"MiniMax answered HTTP {status}: {message}"[:500]
    seconds = int(retry_after) if retry_after and retry_after.isdigit() else None
    if status == 401:
        return Unauthorized(text)
    if status == 402:
        return RateLimited(text, code="insufficient_quota")
    if status == 403:
        return PermissionDenied(text)
    if status == 429:
        return RateLimited(text, retry_after=seconds)
    if status in (408, 504):
        return UpstreamTimeout(text)
    if status in (400, 422):
        return InvalidRequest(text)
    return UpstreamError(text)


def from_aiohttp(exc: aiohttp.ClientError | TimeoutError) -> GatewayError:
    """Connection-level failures. Only a failure to connect means nothing reached MiniMax (so a
    retry is safe); a dropped connection or a read timeout may come after it took the request.
    Messages name the failure, never the request (it holds the key)."""
    error: GatewayError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = UpstreamTimeout("MiniMax did not accept the connection in time")
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = UpstreamError("could not connect to MiniMax")
    elif isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"MiniMax did not answer in time ({type(exc).__name__})")
    else:
        return UpstreamError(f"the connection to MiniMax failed ({type(exc).__name__})")
    error.reached_upstream = False
    return error


def from_transport(exc: httpx.HTTPError) -> GatewayError:
    """The same for REST calls through httpx. httpx-aiohttp renames every aiohttp connection error,
    a server that hung up after taking the request included, to ConnectTimeout; the aiohttp error
    it keeps as the cause is what tells whether the request got there."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | TimeoutError):
        return from_aiohttp(cause)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"MiniMax did not answer in time ({type(exc).__name__})")
    return UpstreamError(f"the connection to MiniMax failed ({type(exc).__name__})")
