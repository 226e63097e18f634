"""Row builders and types shared by the object modules: new threads and messages, the private replay, step
inserts."""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict

from sqlalchemy import bindparam, func, select

from gateway.engine.store.ids import new_id
from gateway.engine.store.render import JSON
from gateway.engine.store.tables import messages as t
from gateway.engine.store.tables import run_steps, threads

Content = list[JSON]
"""OpenAI content blocks."""


class NewMessage(TypedDict):
    role: Literal["user", "assistant"]
    content: str | Content
    attachments: NotRequired[list[JSON] | None]
    metadata: NotRequired[dict[str, str] | None]


class Replay(TypedDict, total=False):
    """What MiniMax must get back of an assistant turn: never shown to clients. `content` is the text as
    MiniMax sent it, when that differs from the message's (e.g. with its `<think>` part)."""

    content: str
    reasoning: str | None
    reasoning_details: Any
    tool_calls: list[JSON]
    # Kept on a tool step the run waits at, for the run's next part (never sent to MiniMax): the File
    # ids of images code drew that no message showed yet, and the files code wrote (name -> File id).
    code_images: list[str]
    code_files: dict[str, str]


def text_content(value: str) -> Content:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


def thread_row(tenant: str, now: int, metadata: dict[str, str] | None, tool_resources: JSON | None) -> JSON:
    """A new thread's row (its messages are `message_row`s)."""
    return {
        "id": new_id("thread", now),
        "tenant": tenant,
        "created_at": now,
        "metadata": metadata or {},
        "tool_resources": tool_resources,
    }


def message_row(tenant: str, thread_id: str, now: int, m: NewMessage) -> JSON:
    """A client-written message (complete on arrival). A string content becomes one text block."""
    content = m["content"]
    return {
        "id": new_id("msg", now),
        "tenant": tenant,
        "thread_id": thread_id,
        "created_at": now,
        "role": m["role"],
        "status": "completed",
        "content": text_content(content) if isinstance(content, str) else content,
        "assistant_id": None,
        "run_id": None,
        "attachments": m.get("attachments") or [],
        "completed_at": now,
        "incomplete_at": None,
        "incomplete_details": None,
        "metadata": m.get("metadata") or {},
        "replay": None,
    }


def step_row(
    now: int,
    tenant: str,
    *,
    thread_id: str,
    run_id: str,
    assistant_id: str,
    step_details: JSON,
    replay: Replay | None = None,
) -> JSON:
    """An `in_progress` run step, for `step_insert()` (which places it after the thread's newest message)."""
    return {
        "id": new_id("step", now),
        "tenant": tenant,
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "created_at": now,
        "type": step_details["type"],
        "status": "in_progress",
        "cancelled_at": None,
        "completed_at": None,
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "usage": None,
        "metadata": {},
        "replay": replay,
        "step_details": step_details,
        "b_anchor_thread": thread_id,
    }


def reply_rows(now: int, tenant: str, *, thread_id: str, run_id: str, assistant_id: str) -> tuple[JSON, JSON]:
    """An empty `in_progress` assistant message and its `message_creation` step: (message, step) rows."""
    msg = {
        "id": new_id("msg", now),
        "tenant": tenant,
        "thread_id": thread_id,
        "created_at": now,
        "role": "assistant",
        "status": "in_progress",
        "content": [],
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": [],
        "completed_at": None,
        "incomplete_at": None,
        "incomplete_details": None,
        "metadata": {},
        "replay": None,
    }
    details = {"type": "message_creation", "message_creation": {"message_id": msg["id"]}}
    step = step_row(
        now, tenant, thread_id=thread_id, run_id=run_id, assistant_id=assistant_id, step_details=details
    )
    return msg, step


def step_insert() -> Any:
    """Insert a step; its `anchor_seq` (history position) is the thread's newest message seq, or 0."""
    newest = (
        select(t.c.seq)
        .where(t.c.thread_id == bindparam("b_anchor_thread"))
        .order_by(t.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return run_steps.insert().values(anchor_seq=func.coalesce(newest, 0))


THREAD_INSERT: Final = threads.insert()
MESSAGE_INSERT: Final = t.insert()
STEP_INSERT: Final = step_insert()
