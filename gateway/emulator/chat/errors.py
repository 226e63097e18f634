"""Chat-completions error answers: native (HTTP 200 + base_resp) and OpenAI-compatible (status + error),
as (docs/minimax-chat.md, "Errors") describes them."""

from __future__ import annotations

from typing import Any

from gateway.emulator.bodies import JsonResponse
from gateway.emulator.ids import hex_id
from gateway.emulator.status_codes import standard_message

LOGIN_FAIL = "login fail: Please carry the API secret key in the 'Authorization' field of the request header"
_MESSAGES = {
    1004: LOGIN_FAIL,
    2056: "usage limit exceeded",
    2061: "your current plan does not support this model",
}

AUTHORIZED, RATE_LIMIT, BALANCE = "authorized_error", "rate_limit_error", "insufficient_balance_error"
BAD_REQUEST, API_ERROR = "bad_request_error", "api_error"

# (HTTP status, error.type) MiniMax's OpenAI-compatible path answers for a status code.
CODE_STATUS: dict[int, tuple[int, str]] = {
    1004: (401, AUTHORIZED),
    2049: (401, AUTHORIZED),
    1002: (429, RATE_LIMIT),
    1041: (429, RATE_LIMIT),
    2045: (429, RATE_LIMIT),
    2056: (429, RATE_LIMIT),
    1008: (402, BALANCE),
    1026: (400, BAD_REQUEST),
    1027: (400, BAD_REQUEST),
    1039: (400, BAD_REQUEST),
    1042: (400, BAD_REQUEST),
    2013: (400, BAD_REQUEST),
    2061: (400, BAD_REQUEST),
}

# (status code, error.type) for an `http:STATUS` fault.
STATUS_CODE: dict[int, tuple[int, str]] = {
    400: (2013, BAD_REQUEST),
    401: (1004, AUTHORIZED),
    402: (1008, BALANCE),
    403: (1004, "permission_error"),
    404: (1000, "not_found_error"),
    408: (1001, "timeout_error"),
    429: (1002, RATE_LIMIT),
    529: (1000, "overloaded_error"),
}


def chat_message(code: int) -> str:
    return _MESSAGES.get(code) or standard_message(code)


def native_body(code: int, message: str) -> dict[str, Any]:
    """What the native endpoint answers (with HTTP 200) for a failed request."""
    return {
        "id": "",
        "choices": None,
        "created": 0,
        "model": "",
        "object": "",
        "usage": None,
        "input_sensitive": False,
        "output_sensitive": False,
        "input_sensitive_type": 0,
        "output_sensitive_type": 0,
        "output_sensitive_int": 0,
        "base_resp": {"status_code": code, "status_msg": message},
    }


def compat_body(status: int, kind: str, code: int, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": f"{message} ({code})", "http_code": str(status)},
        "request_id": hex_id(),
    }


def error_response(code: int, message: str | None = None, *, native: bool) -> JsonResponse:
    """A MiniMax status code answered in the endpoint's shape."""
    message = chat_message(code) if message is None else message
    if native:
        return JsonResponse(native_body(code, message))
    status, kind = CODE_STATUS.get(code, (500, API_ERROR))
    return JsonResponse(compat_body(status, kind, code, message), status_code=status)


def http_fault_response(status: int) -> JsonResponse:
    """`http:STATUS`: that status with the compatible-style body, on either endpoint."""
    code, kind = STATUS_CODE.get(status, (1000, API_ERROR if status >= 500 else BAD_REQUEST))
    return JsonResponse(compat_body(status, kind, code, chat_message(code)), status_code=status)
