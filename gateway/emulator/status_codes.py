"""MiniMax status codes, their standard messages (docs/minimax-wire.md, "Errors and status codes"), the
REST `base_resp` envelope, and the ApiError handlers raise."""

from __future__ import annotations

from typing import Any

SUCCESS = 0
UNKNOWN_ERROR = 1000
REQUEST_TIMEOUT = 1001
RATE_LIMIT = 1002
NOT_AUTHORIZED = 1004
INSUFFICIENT_BALANCE = 1008
INVALID_PARAMS = 2013

STANDARD_MESSAGES: dict[int, str] = {
    0: "success",
    1000: "unknown error",
    1001: "request timeout",
    1002: "rate limit",
    1004: "not authorized",
    1008: "insufficient balance",
    1013: "internal service error",
    1024: "internal error",
    1026: "input new_sensitive",
    1027: "output new_sensitive",
    1033: "system error",
    1039: "token limit",
    1041: "conn limit",
    1042: "invisible character ratio limit",
    2013: "invalid params",
    2045: "rate growth limit",
    2049: "invalid api key",
}


def standard_message(code: int) -> str:
    return STANDARD_MESSAGES.get(code, "unknown error")


def base_resp(code: int = SUCCESS, message: str | None = None) -> dict[str, Any]:
    """REST-style `base_resp` (always status_code/status_msg)."""
    return {"status_code": code, "status_msg": standard_message(code) if message is None else message}


def error_body(code: int, message: str | None = None) -> dict[str, Any]:
    return {"base_resp": base_resp(code, message)}


class ApiError(Exception):
    """A request MiniMax would reject: answered as HTTP 200 with a non-zero base_resp."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def invalid(detail: str) -> ApiError:
    """2013 with MiniMax's `invalid params` prefix and a specific detail."""
    return ApiError(INVALID_PARAMS, f"invalid params, {detail}")
