"""Map MiniMax objects (assistant, thread, message, run, run step, tools) to OpenAI's shapes, and back.

MiniMax-only values become OpenAI's: `0` timestamps -> null, run status `started` -> `in_progress`,
role `ai` -> `assistant`, object tags `run`/`run step` -> `thread.run`/`thread.run.step`, the empty
`required_action` `{"type": ""}` -> null, `retrieval` tools <-> `file_search`, `web_citation`
annotations -> `file_citation` (the URL as `file_id`). Tool kinds OpenAI has no type for (`web_search`)
pass through as MiniMax names them. Pure functions; no IO.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

from gateway.stream.emitter import RUN_DEFAULTS

RUN_STATUS: Final[dict[str, str]] = {
    "queued": "queued",
    "started": "in_progress",
    "in_progress": "in_progress",
    "requires_action": "requires_action",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
    "failed": "failed",
    "completed": "completed",
    "incomplete": "incomplete",
    "expired": "expired",
}
STEP_STATUS: Final[dict[str, str]] = {
    "queued": "in_progress",
    "started": "in_progress",
    "in_progress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
}


def ts(value: Any) -> int | None:
    """MiniMax timestamps: Unix seconds, `0` (or absent) for unset."""
    return value if isinstance(value, int) and value > 0 else None


def metadata(value: Any) -> dict[str, str]:
    return value if isinstance(value, dict) else {}


# -- tools ---------------------------------------------------------------------------------------


def tool_to_openai(tool: dict[str, Any]) -> dict[str, Any]:
    kind = tool.get("type")
    if kind == "retrieval":
        return {"type": "file_search"}
    if kind == "function":
        return {"type": "function", "function": tool.get("function") or {}}
    return dict(tool)


def tool_to_minimax(tool: dict[str, Any]) -> dict[str, Any]:
    kind = tool.get("type")
    if kind == "file_search":
        return {"type": "retrieval"}
    if kind == "function":
        fn = tool.get("function") or {}
        return {"type": "function", "function": {k: v for k, v in fn.items() if k != "strict"}}
    return {"type": kind}


def tools_to_openai(tools: Any) -> list[dict[str, Any]]:
    return [tool_to_openai(t) for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []


def tool_call_to_openai(call: dict[str, Any]) -> dict[str, Any]:
    """A run-step tool call in OpenAI's `step_details.tool_calls` shape (complete, not a delta)."""
    kind = call.get("type")
    body = call.get(kind) if isinstance(kind, str) else None
    body = body if isinstance(body, dict) else {}
    if kind == "function":
        output = body.get("output")
        return {
            "id": call.get("id", ""),
            "type": "function",
            "function": {
                "name": body.get("name", ""),
                "arguments": body.get("arguments", ""),
                "output": output or None,
            },
        }
    if kind == "code_interpreter":
        outputs = [o for o in body.get("outputs") or () if isinstance(o, dict)]
        return {
            "id": call.get("id", ""),
            "type": "code_interpreter",
            "code_interpreter": {"input": body.get("input", ""), "outputs": outputs},
        }
    if kind == "retrieval":
        return {
            "id": call.get("id", ""),
            "type": "file_search",
            "file_search": {"query": body.get("query", ""), "outputs": body.get("outputs", "")},
        }
    if kind == "web_search":
        # OpenAI has no web-search tool call; the SDKs' unions know `function`, so carry it as one
        # that already has its output (it never appears in `required_action`).
        return {
            "id": call.get("id", ""),
            "type": "function",
            "function": {
                "name": "web_search",
                "output": body.get("outputs") or None,
                "arguments": body.get("arguments") or orjson.dumps({"query": body.get("query", "")}).decode(),
            },
        }
    return {"id": call.get("id", ""), "type": kind, kind or "unknown": body}


def annotation_to_openai(ann: dict[str, Any]) -> dict[str, Any]:
    kind = ann.get("type")
    base = {
        "text": ann.get("text", ""),
        "start_index": ann.get("start_index", 0),
        "end_index": ann.get("end_index", 0),
    }
    if kind == "file_path":
        return {
            "type": "file_path",
            **base,
            "file_path": {"file_id": (ann.get("file_path") or {}).get("file_id", "")},
        }
    cite = ann.get("file_citation") or ann.get("web_citation") or {}
    return {
        "type": "file_citation",
        **base,
        "file_citation": {
            "file_id": cite.get("file_id") or cite.get("url") or "",
            "quote": cite.get("quote", ""),
        },
    }


# -- objects -------------------------------------------------------------------------------------


def assistant_to_openai(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a.get("id", ""),
        "object": "assistant",
        "created_at": a.get("created_at") or 0,
        "name": a.get("name") or None,
        "description": a.get("description") or None,
        "model": a.get("model", ""),
        "instructions": a.get("instructions") or None,
        "tools": tools_to_openai(a.get("tools")),
        "tool_resources": None,
        "metadata": metadata(a.get("metadata")),
        "temperature": None,
        "top_p": None,
        "response_format": "auto",
    }


def thread_to_openai(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": t.get("id", ""),
        "object": "thread",
        "created_at": t.get("created_at") or 0,
        "metadata": metadata(t.get("metadata")),
        "tool_resources": None,
    }


def content_to_openai(items: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "text" or "text" in item:
            text = item.get("text") or {}
            out.append(
                {
                    "type": "text",
                    "text": {
                        "value": text.get("value", ""),
                        "annotations": [annotation_to_openai(a) for a in text.get("annotations") or ()],
                    },
                }
            )
        elif item.get("type") == "image_file":
            out.append(
                {
                    "type": "image_file",
                    "image_file": {
                        "file_id": (item.get("image_file") or {}).get("file_id", ""),
                        "detail": "auto",
                    },
                }
            )
    return out


def message_to_openai(m: dict[str, Any]) -> dict[str, Any]:
    role = "user" if m.get("role") == "user" else "assistant"
    return {
        "id": m.get("id", ""),
        "object": "thread.message",
        "created_at": m.get("created_at") or 0,
        "thread_id": m.get("thread_id", ""),
        "role": role,
        "content": content_to_openai(m.get("content")),
        "assistant_id": m.get("assistant_id") or None,
        "run_id": m.get("run_id") or None,
        "attachments": [],
        "status": "completed",
        "completed_at": ts(m.get("completed_at")) or ts(m.get("created_at")),
        "incomplete_at": None,
        "incomplete_details": None,
        "metadata": metadata(m.get("metadata")),
    }


def required_action_to_openai(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("type") != "submit_tool_outputs":
        return None
    calls = ((value.get("submit_tool_outputs") or {}).get("tool_calls")) or ()
    return {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {
                    "id": c.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": (c.get("function") or {}).get("name", ""),
                        "arguments": (c.get("function") or {}).get("arguments", ""),
                    },
                }
                for c in calls
                if isinstance(c, dict)
            ]
        },
    }


def last_error_to_openai(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not (value.get("message") or value.get("code")):
        return None
    code = value.get("code")
    known = code if code in ("server_error", "rate_limit_exceeded", "invalid_prompt") else "server_error"
    return {"code": known, "message": str(value.get("message") or code)}


def _instructions(value: Any) -> str:
    return value or ""


def _created(value: Any) -> Any:
    return value or 0


def _same(value: Any) -> Any:
    return value


_RUN_CONVERT: Final[dict[str, Callable[[Any], Any]]] = {
    "id": _same,
    "created_at": _created,
    "assistant_id": _same,
    "thread_id": _same,
    "started_at": ts,
    "expires_at": ts,
    "cancelled_at": ts,
    "failed_at": ts,
    "completed_at": ts,
    "required_action": required_action_to_openai,
    "last_error": last_error_to_openai,
    "model": _same,
    "instructions": _instructions,
    "tools": tools_to_openai,
    "metadata": metadata,
}
RUN_FIELDS: Final = frozenset([*_RUN_CONVERT, "status"])
"""The MiniMax run fields `run_to_openai` reads."""


def run_fields_to_openai(r: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI run fields that a MiniMax run (or a run frame) gives a value for, `status` aside:
    what a stream's emitter keeps (the rest take the emitter's defaults)."""
    return {k: _RUN_CONVERT[k](v) for k, v in r.items() if k in _RUN_CONVERT}


def run_status(r: dict[str, Any]) -> str:
    status = r.get("status")
    return RUN_STATUS.get(status, "in_progress") if isinstance(status, str) else "in_progress"


def step_status(s: dict[str, Any]) -> str:
    status = s.get("status")
    return STEP_STATUS.get(status, "in_progress") if isinstance(status, str) else "in_progress"


def run_to_openai(r: dict[str, Any]) -> dict[str, Any]:
    return {**RUN_DEFAULTS, **run_fields_to_openai(r), "status": run_status(r)}


def step_details_to_openai(details: Any, step_type: str) -> dict[str, Any]:
    details = details if isinstance(details, dict) else {}
    if step_type == "tool_calls":
        calls = [tool_call_to_openai(c) for c in details.get("tool_calls") or () if isinstance(c, dict)]
        return {"type": "tool_calls", "tool_calls": calls}
    return {
        "type": "message_creation",
        "message_creation": {"message_id": (details.get("message_creation") or {}).get("message_id", "")},
    }


def step_to_openai(s: dict[str, Any]) -> dict[str, Any]:
    step_type = "tool_calls" if s.get("type") == "tool_calls" else "message_creation"
    return {
        "id": s.get("id", ""),
        "object": "thread.run.step",
        "created_at": s.get("created_at") or 0,
        "run_id": s.get("run_id", ""),
        "assistant_id": s.get("assistant_id", ""),
        "thread_id": s.get("thread_id", ""),
        "type": step_type,
        "status": step_status(s),
        "cancelled_at": ts(s.get("cancelled_at")),
        "completed_at": ts(s.get("completed_at")),
        "expired_at": ts(s.get("expired_at")),
        "failed_at": ts(s.get("failed_at")),
        "last_error": last_error_to_openai(s.get("last_error")),
        "step_details": step_details_to_openai(s.get("step_details"), step_type),
        "usage": None,
        "metadata": {},
    }
