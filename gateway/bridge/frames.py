"""Classify one MiniMax stream payload as a run / message / run-step frame, an error, or nothing.

Tolerates every envelope variant in docs/minimax-wire.md ("Envelopes and base_resp", "Frame shapes"):
`base_resp` as `status_code`+`status_msg`, `code`+`message`, `{}` or absent; object tags
`run`/`thread.run`, `message`/`thread.message`, `run step`/`thread.run.step`. A JSON object of no known
kind yields `None` (the caller counts and logs it). A payload that is not a JSON object raises
`UnreadableFrame`: it may have carried text, so the run fails rather than go on without it.

Message frames, nearly all of a stream, are decoded by msgspec into `MessageData`, which keeps only
the fields the translator reads and skips the rest without building them; every other payload
(and any message frame of another shape) is parsed whole by orjson into a dict.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NamedTuple

import msgspec
import orjson

from gateway.errors import UpstreamError
from gateway.upstream.base_resp import failure_code

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


class MessageData(msgspec.Struct, tag_field="object", tag="message"):
    """A MiniMax `message` object: the fields the translator reads (any JSON type; it checks)."""

    id: Any = None
    role: Any = None
    status: Any = None
    content: Any = None
    run_id: Any = None
    created_at: Any = None
    assistant_id: Any = None
    metadata: Any = None

    def get(self, key: str, default: Any = None) -> Any:
        """Read like the dict form of other frames (for the less travelled paths)."""
        return getattr(self, key, default)


class ThreadMessageData(MessageData, tag="thread.message"):
    """The same object under the `thread.message` tag."""


class _BaseResp(msgspec.Struct):
    status_code: Any = None
    code: Any = None


class _MessageEnvelope(msgspec.Struct):
    data: MessageData | ThreadMessageData
    base_resp: _BaseResp | None = None


class UnreadableFrame(UpstreamError):
    """MiniMax sent a stream payload that is not a JSON object."""

    def __init__(self, payload: bytes) -> None:
        super().__init__(f"MiniMax sent a stream frame that cannot be read ({len(payload)} bytes)")


class Frame(NamedTuple):
    """`kind` and the MiniMax object: `MessageData` or a dict for messages, a dict otherwise (for
    `error`: `{"code": int, "message": str}`)."""

    kind: FrameKind
    data: dict[str, Any] | MessageData


def error_of(base_resp: Any) -> tuple[int, str] | None:
    """The (code, message) of a `base_resp` that reports a failure, else None."""
    if not isinstance(base_resp, dict):
        return None
    code = failure_code(base_resp)
    if code is None:
        return None
    message = base_resp.get("status_msg", base_resp.get("message")) or "MiniMax reported an error"
    return code, str(message)


_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_new = tuple.__new__  # builds the NamedTuple without its Python-level __new__ (hot path: once per frame)


_decode_message = msgspec.json.Decoder(_MessageEnvelope).decode


def parse_frame(payload: bytes) -> Frame | None:
    """Called for every frame of every stream: a message frame takes the typed decoder; anything
    else, or a message whose `base_resp` reports a failure, is parsed as a dict."""
    try:
        envelope = _decode_message(payload)
    except msgspec.ValidationError:
        return _parse_dict(payload)
    except msgspec.DecodeError:
        raise UnreadableFrame(payload) from None
    base_resp = envelope.base_resp
    if base_resp is not None and (base_resp.status_code or base_resp.code):
        return _parse_dict(payload)
    return _new(Frame, ("message", envelope.data))


def _parse_dict(payload: bytes) -> Frame | None:
    try:
        doc = _loads(payload)
    except _JSONDecodeError:
        raise UnreadableFrame(payload) from None
    if type(doc) is not dict:
        raise UnreadableFrame(payload)
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
