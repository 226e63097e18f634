"""The in-memory Assistants objects and their JSON shapes, REST and stream (docs/minimax-wire.md,
"Frame shapes").

Wire choices where what MiniMax sends is not pinned down:
- Reply messages are stored with role "assistant". REST (messages/list, retrieve) shows "assistant";
  stream frames show "ai", MiniMax's stream role. User messages carry "" for assistant_id/run_id.
- Content items carry an "id" (32 hex) in stream frames only.
- Unset timestamps are 0; absent metadata is null; assistants report `status: "available"`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ACTIVE_STATUSES = frozenset({"queued", "started", "in_progress", "requires_action"})
FINAL_STATUSES = frozenset({"requires_action", "completed", "cancelled", "failed", "expired"})


@dataclass
class Assistant:
    id: str
    created_at: int
    model: str
    name: str = ""
    description: str = ""
    instructions: str = ""
    tools: list[JSON] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)
    metadata: dict[str, str] | None = None
    rolemeta: JSON = field(default_factory=dict)
    t2a_option: JSON | None = None
    updated_at: int = 0

    def to_json(self) -> JSON:
        out: JSON = {
            "id": self.id,
            "object": "assistant",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "name": self.name,
            "description": self.description,
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "file_ids": self.file_ids,
            "metadata": self.metadata,
            "rolemeta": self.rolemeta,
            "status": "available",
        }
        if self.t2a_option is not None:
            out["t2a_option"] = self.t2a_option
        return out


@dataclass
class Thread:
    id: str
    created_at: int
    metadata: dict[str, str] | None = None

    def to_json(self) -> JSON:
        return {"id": self.id, "object": "thread", "created_at": self.created_at, "metadata": self.metadata}


@dataclass
class TextContent:
    id: str
    value: str = ""
    annotations: list[JSON] = field(default_factory=list)


@dataclass
class Message:
    id: str
    thread_id: str
    role: str  # "user" | "assistant"
    created_at: int
    content: TextContent
    assistant_id: str = ""
    run_id: str = ""
    file_ids: list[str] = field(default_factory=list)
    metadata: dict[str, str] | None = None
    updated_at: int = 0

    @property
    def text(self) -> str:
        return self.content.value

    def _shape(self, role: str, content: JSON) -> JSON:
        return {
            "id": self.id,
            "object": "message",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "thread_id": self.thread_id,
            "role": role,
            "content": [content],
            "file_ids": self.file_ids,
            "assistant_id": self.assistant_id,
            "run_id": self.run_id,
            "metadata": self.metadata,
        }

    def to_json(self) -> JSON:
        """REST shape: the whole text and every annotation so far."""
        text = {"value": self.content.value, "annotations": list(self.content.annotations)}
        return self._shape(self.role, {"type": "text", "text": text})

    def frame(self, value: str, annotations: list[JSON]) -> JSON:
        """Stream shape carrying `value` (a piece or the text so far, per text_mode)."""
        role = "ai" if self.role == "assistant" else self.role
        item = {"id": self.content.id, "type": "text", "text": {"value": value, "annotations": annotations}}
        return self._shape(role, item)


@dataclass
class RunStep:
    id: str
    run_id: str
    assistant_id: str
    thread_id: str
    type: str  # "message_creation" | "tool_calls"
    created_at: int
    step_details: JSON
    status: str = "in_progress"
    completed_at: int = 0
    cancelled_at: int = 0
    failed_at: int = 0
    expired_at: int = 0
    last_error: JSON | None = None

    @property
    def tool_calls(self) -> list[JSON]:
        calls: list[JSON] = self.step_details.get("tool_calls", [])
        return calls

    def to_json(self, *, stream: bool) -> JSON:
        return {
            "id": self.id,
            "object": "run step" if stream else "thread.run.step",
            "run_id": self.run_id,
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "type": self.type,
            "status": self.status,
            "created_at": self.created_at,
            "expired_at": self.expired_at,
            "cancelled_at": self.cancelled_at,
            "failed_at": self.failed_at,
            "completed_at": self.completed_at,
            "last_error": self.last_error,
            "step_details": self.step_details,
        }


@dataclass
class Run:
    id: str
    thread_id: str
    assistant_id: str
    created_at: int
    model: str
    instructions: str
    tools: list[JSON]
    file_ids: list[str] = field(default_factory=list)
    metadata: dict[str, str] | None = None
    status: str = "queued"
    started_at: int = 0
    expires_at: int = 0
    cancelled_at: int = 0
    failed_at: int = 0
    completed_at: int = 0
    updated_at: int = 0
    last_error: JSON | None = None
    pending_calls: list[JSON] | None = None  # required_action tool calls
    t2a_option: JSON | None = None
    pace_s: float = 0.0  # runtime only: delay between changes when progressed in the background

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def required_action(self) -> JSON:
        if self.pending_calls is None:
            return {"type": "", "submit_tool_outputs": None}
        return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": self.pending_calls}}

    def to_json(self, *, stream: bool) -> JSON:
        out: JSON = {
            "id": self.id,
            "object": "run" if stream else "thread.run",
            "created_at": self.created_at,
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "status": self.status,
            "started_at": self.started_at,
            "expires_at": self.expires_at,
            "cancelled_at": self.cancelled_at,
            "failed_at": self.failed_at,
            "completed_at": self.completed_at,
            "updated_at": self.updated_at,
            "last_error": self.last_error,
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "file_ids": self.file_ids,
            "metadata": self.metadata,
            "required_action": self.required_action(),
        }
        if self.t2a_option is not None:
            out["t2a_option"] = self.t2a_option
        return out
