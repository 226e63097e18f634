"""Map MiniMax failures (HTTP statuses, `base_resp` codes, transport errors) to the gateway's errors.

`base_resp` codes are from MiniMax's error-code table (docs/minimax-wire.md, "Errors and status codes"). A
code that means "bad parameters" on a call whose only parameters are ids means an unknown id: 404, as OpenAI
answers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import TracebackType
from typing import Final, NamedTuple

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
from gateway.upstream import h1

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


class Failure(NamedTuple):
    """What a failure of the HTTP library means for the gateway."""

    error: type[GatewayError]
    message: str  # `{name}`: the library's class name. Never its text: that can hold the request.
    reached_upstream: bool = True  # False: nothing reached MiniMax, so a retry is safe


TRANSPORT_ERRORS: Final[Mapping[type[Exception], Failure]] = {
    # h1: streamed answers. Only a failure to connect means nothing reached MiniMax.
    h1.ConnectTimeout: Failure(
        UpstreamTimeout, "MiniMax did not accept the connection in time", reached_upstream=False
    ),
    h1.ConnectFailed: Failure(UpstreamError, "could not connect to MiniMax", reached_upstream=False),
    h1.ReadTimeout: Failure(UpstreamTimeout, "MiniMax did not answer in time ({name})"),
    h1.StreamFailure: Failure(UpstreamError, "the connection to MiniMax failed ({name})"),
    # aiohttp: REST calls go through httpx on top of it. Only a failure to connect means nothing reached
    # MiniMax; a dropped connection or a read timeout may come after it took the request. The first
    # class that matches decides, so the specific come first (aiohttp's timeouts are also
    # `ClientError`s; a class-hierarchy lookup would take them as dropped connections).
    aiohttp.ConnectionTimeoutError: Failure(
        UpstreamTimeout, "MiniMax did not accept the connection in time", reached_upstream=False
    ),
    aiohttp.ClientConnectorError: Failure(
        UpstreamError, "could not connect to MiniMax", reached_upstream=False
    ),
    TimeoutError: Failure(UpstreamTimeout, "MiniMax did not answer in time ({name})"),
    aiohttp.ClientError: Failure(UpstreamError, "the connection to MiniMax failed ({name})"),
    # httpx's own, for REST calls. httpx-aiohttp renames every aiohttp connection error, a server that
    # hung up after taking the request included, to ConnectTimeout: the aiohttp error it keeps as the
    # cause is what tells whether the request got there, so that is looked up instead (`transport_error`).
    httpx.TimeoutException: Failure(UpstreamTimeout, "MiniMax did not answer in time ({name})"),
    httpx.HTTPError: Failure(UpstreamError, "the connection to MiniMax failed ({name})"),
}
"""The HTTP libraries' exceptions -> the gateway's upstream errors: the one place they are mapped."""

TRANSPORT_FAILURES: Final = tuple(TRANSPORT_ERRORS)
"""Every exception class `TRANSPORT_ERRORS` maps: whatever the HTTP libraries raise when a call fails."""


def transport_error(exc: Exception) -> GatewayError:
    """The gateway's error for one of `TRANSPORT_FAILURES` (see `TRANSPORT_ERRORS`)."""
    if isinstance(exc, httpx.HTTPError) and isinstance(exc.__cause__, aiohttp.ClientError | TimeoutError):
        exc = exc.__cause__
    for kind, failure in TRANSPORT_ERRORS.items():
        if isinstance(exc, kind):
            error = failure.error(failure.message.format(name=type(exc).__name__))
            if not failure.reached_upstream:
                error.reached_upstream = False
            return error
    raise TypeError(f"not a failure of the HTTP library: {type(exc).__name__}")


class TransportErrors:
    """The boundary with the HTTP library, as httpx's `map_httpcore_exceptions` is with httpcore:
    `with TransportErrors() as boundary:` lets none of `TRANSPORT_FAILURES` out, only the error
    `TRANSPORT_ERRORS` maps it to (with no cause: the library's exception can hold the request, and
    its key). `caught` names the class it mapped (the metric label of a call that gives up)."""

    __slots__ = ("caught",)

    def __init__(self) -> None:
        self.caught: str | None = None

    def __enter__(self) -> TransportErrors:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, TRANSPORT_FAILURES):
            self.caught = type(exc).__name__
            raise transport_error(exc) from None
