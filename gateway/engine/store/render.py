"""Rows -> OpenAI's v2 objects, field for field as the SDKs' `types/beta` models read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = dict[str, Any]
Row = Mapping[Any, Any]


def assistant(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "assistant",
        "created_at": r["created_at"],
        "name": r["name"],
        "description": r["description"],
        "model": r["model"],
        "instructions": r["instructions"],
        "tools": r["tools"],
        "tool_resources": r["tool_resources"],
        "metadata": r["metadata"],
        "temperature": r["temperature"],
        "top_p": r["top_p"],
        "response_format": r["response_format"],
    }


def thread(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "thread",
        "created_at": r["created_at"],
        "metadata": r["metadata"],
        "tool_resources": r["tool_resources"],
    }


def message(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "thread.message",
        "created_at": r["created_at"],
        "thread_id": r["thread_id"],
        "role": r["role"],
        "content": r["content"],
        "assistant_id": r["assistant_id"],
        "run_id": r["run_id"],
        "attachments": r["attachments"],
        "status": r["status"],
        "completed_at": r["completed_at"],
        "incomplete_at": r["incomplete_at"],
        "incomplete_details": r["incomplete_details"],
        "metadata": r["metadata"],
    }


def run(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "thread.run",
        "created_at": r["created_at"],
        "assistant_id": r["assistant_id"],
        "thread_id": r["thread_id"],
        "status": r["status"],
        "started_at": r["started_at"],
        "expires_at": r["expires_at"],
        "cancelled_at": r["cancelled_at"],
        "failed_at": r["failed_at"],
        "completed_at": r["completed_at"],
        "required_action": r["required_action"],
        "last_error": r["last_error"],
        "model": r["model"],
        "instructions": r["instructions"],
        "tools": r["tools"],
        "metadata": r["metadata"],
        "incomplete_details": r["incomplete_details"],
        "usage": r["usage"],
        "temperature": r["temperature"],
        "top_p": r["top_p"],
        "max_prompt_tokens": r["max_prompt_tokens"],
        "max_completion_tokens": r["max_completion_tokens"],
        "truncation_strategy": r["truncation_strategy"],
        "response_format": r["response_format"],
        "tool_choice": r["tool_choice"],
        "parallel_tool_calls": r["parallel_tool_calls"],
    }


def step(r: Row) -> JSON:
    return {
        "id": r["id"],
        "object": "thread.run.step",
        "created_at": r["created_at"],
        "run_id": r["run_id"],
        "assistant_id": r["assistant_id"],
        "thread_id": r["thread_id"],
        "type": r["type"],
        "status": r["status"],
        "cancelled_at": r["cancelled_at"],
        "completed_at": r["completed_at"],
        "expired_at": r["expired_at"],
        "failed_at": r["failed_at"],
        "last_error": r["last_error"],
        "step_details": r["step_details"],
        "usage": r["usage"],
        "metadata": r["metadata"],
    }


def deleted(kind: str, id: str) -> JSON:
    return {"id": id, "object": f"{kind}.deleted", "deleted": True}
