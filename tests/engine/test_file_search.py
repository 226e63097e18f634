"""The file_search tool's pure parts: what a call's arguments ask, what a streaming client is shown of a
step, and the searches a run made, read back from its steps when it continues after tool outputs."""

from __future__ import annotations

from typing import Any

from gateway.engine import file_search
from gateway.engine.citations import marker
from gateway.stream.events import Event

RESULT = {"file_id": "file-a", "file_name": "a.pdf", "score": 0.5, "content": [{"type": "text", "text": "x"}]}


def step(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"id": "step_1", "step_details": {"type": "tool_calls", "tool_calls": list(calls)}}


def search(call_id: str, *results: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "file_search",
        "file_search": {"ranking_options": {}, "results": list(results)},
    }


def test_queries_from_the_model_arguments() -> None:
    assert file_search.queries('{"queries": ["refunds", " ", "shipping"]}', "q") == ["refunds", "shipping"]
    assert file_search.queries('{"query": "refunds"}', "q") == ["refunds"]
    assert file_search.queries("not json", "the question") == ["the question"]
    assert file_search.queries("{}", "") == []


def test_a_streamed_step_has_no_result_content_and_the_stored_one_keeps_it() -> None:
    function = {"id": "call_f", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    completed = Event("thread.run.step.completed", step(search("call_s", RESULT), function))
    other = Event("thread.message.created", {"id": "msg_1"})
    shown = file_search.streamed([completed, other])
    assert isinstance(shown[0], Event)
    calls = shown[0][1]["step_details"]["tool_calls"]
    assert calls[0]["file_search"]["results"] == [{k: v for k, v in RESULT.items() if k != "content"}]
    assert calls[1] == function and shown[1] is other
    assert completed[1]["step_details"]["tool_calls"][0]["file_search"]["results"] == [RESULT]  # untouched
    asked = file_search.without_content(completed[1], [file_search.INCLUDE_CONTENT])
    assert asked["step_details"]["tool_calls"][0]["file_search"]["results"] == [RESULT]


def test_searches_given_out_are_read_back_in_order() -> None:
    b = {**RESULT, "file_id": "file-b", "file_name": "b.txt"}
    steps = [
        step(search("call_1", RESULT, b)),
        {"step_details": {"type": "message_creation"}},
        step(search("c2", b)),
    ]
    count, markers = file_search.given_out(steps)
    assert count == 2
    assert markers == {
        marker(0, 0, "a.pdf"): "file-a",
        marker(0, 1, "b.txt"): "file-b",
        marker(1, 0, "b.txt"): "file-b",
    }
