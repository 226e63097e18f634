"""MiniMax -> OpenAI object mapping: what a streamed run keeps is all that its snapshots read."""

from __future__ import annotations

from typing import Any

from gateway.bridge.shapes import RUN_FIELDS, run_to_openai

FULL_RUN: dict[str, Any] = {
    "id": "run_1",
    "object": "run",
    "created_at": 1700000000,
    "updated_at": 1700000005,
    "assistant_id": "asst_1",
    "thread_id": "thread_1",
    "status": "requires_action",
    "started_at": 1700000001,
    "expires_at": 1700003600,
    "cancelled_at": 1700000002,
    "failed_at": 1700000003,
    "completed_at": 1700000004,
    "required_action": {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        },
    },
    "last_error": {"code": "server_error", "message": "boom"},
    "model": "abab6.5s-chat",
    "instructions": "be brief",
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "file_ids": ["file_1"],
    "metadata": {"k": "v"},
}


def test_run_fields_cover_everything_run_to_openai_reads() -> None:
    kept = {k: v for k, v in FULL_RUN.items() if k in RUN_FIELDS}
    assert run_to_openai(kept) == run_to_openai(FULL_RUN)
    for field in RUN_FIELDS:  # and each kept field matters: dropping it changes the snapshot
        assert run_to_openai({k: v for k, v in kept.items() if k != field}) != run_to_openai(FULL_RUN), field
