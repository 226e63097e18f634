"""Errors the gateway shows its clients, as OpenAI-shaped bodies with the status OpenAI would use.

    GatewayError (500 server_error)
    ├── InvalidRequest (400 invalid_request_error, with `param`)
    ├── NotFound (404 invalid_request_error)
    ├── Unauthorized (401 invalid_request_error, code invalid_api_key)
    ├── PermissionDenied (403)
    ├── RateLimited (429 rate_limit_exceeded, optional Retry-After)
    ├── UpstreamError (502 server_error: MiniMax failed or answered nonsense)
    └── UpstreamTimeout (504 server_error)

Only these reach a client; anything else is logged and answered as a bare 500 with no detail.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None
    reached_upstream = True  # False only when the request never left the gateway: retrying is safe

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"


class Unauthorized(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class UpstreamError(GatewayError):
    status = 502


class UpstreamTimeout(GatewayError):
    status = 504
