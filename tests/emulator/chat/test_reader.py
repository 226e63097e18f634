"""Checks of the reference chat-stream reader in `reader.py`: cumulative reasoning, think tags split
anywhere, and what it rejects."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.emulator.chat.reader import SENSITIVE_KEYS, SPEAKER, read_events, split_think


def _chunk(delta: dict[str, Any], **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, **extra}
    body = {"id": "0" * 32, "choices": [choice], "object": "chat.completion.chunk", "usage": None}
    return orjson.dumps(body | dict.fromkeys(SENSITIVE_KEYS, 0))


def test_reader_takes_cumulative_reasoning_as_the_last_snapshot() -> None:
    d: dict[str, Any] = {
        **SPEAKER,
        "reasoning_details": [{"type": "reasoning.text", "format": "MiniMax-response-v1"}],
    }

    def r(text: str) -> dict[str, Any]:
        return {
            **d,
            "reasoning_content": text,
            "reasoning_details": [{**d["reasoning_details"][0], "text": text}],
        }

    events = [_chunk(r("Th")), _chunk(r("Think")), _chunk({**SPEAKER, "content": "Hi"}, finish_reason="stop")]
    read = read_events(events, cumulative=True)
    assert (read.reasoning, read.answer, read.finish_reason) == ("Think", "Hi", "stop")
    with pytest.raises(AssertionError):
        read_events([_chunk(r("Th")), _chunk(r("ab"))], cumulative=True)
    assert read_events([_chunk(r("Th")), _chunk(r("ink"))]).reasoning == "Think"


def test_reader_strips_think_tags_split_anywhere() -> None:
    content = "<think>\nplan\n</think>\n\nanswer"
    for cut in range(1, len(content)):
        events = [_chunk({**SPEAKER, "content": part}) for part in (content[:cut], content[cut:])]
        read = read_events(events)
        assert (read.reasoning, read.answer) == ("plan", "answer")
    assert split_think("plan\n</think>\n\nanswer") == ("plan", "answer")
    assert split_think("<think>\npla") == ("pla", "")


def test_reader_rejects_events_after_the_end_and_continuations_with_names() -> None:
    usage = orjson.dumps(
        {
            "id": "0" * 32,
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {},
            "base_resp": {"status_code": 0, "status_msg": ""},
        }
    )
    with pytest.raises(AssertionError):
        read_events([usage, b"[DONE]", _chunk({**SPEAKER, "content": "late"})])
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}
    again = {"index": 0, "id": "", "function": {"name": "f", "arguments": "}"}}
    with pytest.raises(AssertionError):
        read_events([_chunk({**SPEAKER, "tool_calls": [call]}), _chunk({**SPEAKER, "tool_calls": [again]})])
