"""Classify one MiniMax stream payload as a run / message / run-step frame, an error, or nothing.

Tolerates every envelope variant in wire note §4.1/§5: `base_resp` as `status_code`+`status_msg`,
`code`+`message`, `{}` or absent; object tags `run`/`thread.run`, `message`/`thread.message`,
`run step`/`thread.run.step`. Unknown kinds and payloads that are not JSON objects (a keep-alive,
a garbled frame) yield `None`; the caller counts and logs them.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NamedTuple

import orjson

FrameKind = Literal["run", "message", "step", "error"]

_KINDS: Final[dict[str, FrameKind]] = {
    "run": "run",
    "thread.run": "run",
    "message": "message",
    "thread.message": "message",
    "run step": "step",
    "run_step": "step",
    "thread.run.step": "step",
}


class Frame(NamedTuple):
    """`kind` and the MiniMax object (for `error`: `{"code": int, "message": str}`)."""

    kind: FrameKind
    data: dict[str, Any]


def error_of(base_resp: Any) -> tuple[int, str] | None:
    """The (code, message) of a `base_resp` that reports a failure, else None."""
    if not isinstance(base_resp, dict):
        return None
    code = base_resp.get("status_code", base_resp.get("code"))
    if not code or not isinstance(code, int):
        return None
    message = base_resp.get("status_msg", base_resp.get("message")) or "MiniMax reported an error"
    return code, str(message)


_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_new = tuple.__new__  # builds the NamedTuple without its Python-level __new__ (hot path: once per frame)


def parse_frame(payload: bytes) -> Frame | None:
    """Called for every frame of every stream: checks are ordered so a plain frame takes the fewest."""
    try:
        doc = _loads(payload)
    except _JSONDecodeError:
        return None
    if type(doc) is not dict:
        return None
    base_resp = doc.get("base_resp")
    if base_resp and (failure := error_of(base_resp)) is not None:
        return _new(Frame, ("error", {"code": failure[0], "message": failure[1]}))
    data = doc.get("data")
    if type(data) is not dict:
        return None
    tag = data.get("object")
    kind = _KINDS.get(tag) if type(tag) is str else None
    if kind is None:
        return None
    return _new(Frame, (kind, data))
