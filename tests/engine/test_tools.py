"""Function tools on the engine, end to end: rounds of calls and outputs, text before a call, parallel
calls streamed exactly, and the checks on submitted outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.emulator.chat.model import reply_for
from gateway.emulator.chat.request import parse_chat_request
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.replies import tool_result_reply
from tests.engine.helpers_e2e import (
    TIME,
    WEATHER,
    Events,
    Stack,
    add_message,
    assistant,
    get,
    messages,
    post_events,
    run_of,
    stack,
    steps,
    text_of,
    thread,
    token,
    wait_run,
)
from tests.stream_checks import Transcript, check, parse_sse

DIALECTS = {
    "pieces": EmulatorConfig(chars_per_chunk=7),
    "whole-split": EmulatorConfig(
        chat_tool_args="whole", chat_thinking="split", chunking="split", split_seed=3, chat_ending="done"
    ),
}


@pytest.fixture(scope="module", params=list(DIALECTS))
def dialect(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(DIALECTS[request.param], tmp_path_factory.mktemp(request.param)) as s:
        yield s


def check_resumed(events: Events) -> Transcript:
    """`check()` for a run that goes on after tool outputs: it starts `thread.run.queued`, never created."""
    names = [n for n, _ in events]
    assert names[0] == "thread.run.queued", names[:3]
    assert "thread.run.created" not in names
    return check([("thread.run.created", events[0][1]), *events])


def submit(client: httpx.Client, thread_id: str, run_id: str, outputs: dict[str, str], **extra: Any) -> Any:
    body = {"tool_outputs": [{"tool_call_id": k, "output": v} for k, v in outputs.items()], **extra}
    return client.post(f"/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", json=body)


def required_calls(run: dict[str, Any]) -> list[dict[str, Any]]:
    assert run["status"] == "requires_action", run
    return list(run["required_action"]["submit_tool_outputs"]["tool_calls"])


def test_two_tool_rounds_over_two_runs_send_calls_then_results(dialect: Stack) -> None:
    # The emulator's model answers tool results with text only, so a second round needs a second run.
    s, tok = dialect, token()
    client = s.http(s.key())
    assistant_id = assistant(client, tools=[WEATHER, TIME])
    thread_id = thread(client, f"{tok}: Call get_weather for Paris")
    rounds = [("sunny, 21C", None), ("09:30", f"{tok}: now call get_time for UTC")]
    calls: list[dict[str, Any]] = []
    for output, text in rounds:
        if text is not None:
            add_message(client, thread_id, text)
        run = run_of(post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}))
        (call,) = required_calls(run)
        calls.append(call)
        resumed = submit(client, thread_id, run["id"], {call["id"]: output}, stream=True)
        assert resumed.status_code == 200, resumed.text
        transcript = check_resumed(parse_sse(resumed.content))
        assert transcript.final_run is not None and transcript.final_run["status"] == "completed"
        name = call["function"]["name"]
        assert list(transcript.texts.values()) == [tool_result_reply(name, output)]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]

    last = s.requests_with(tok)[-1]["messages"]
    assert [m["role"] for m in last] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
    ]
    for at, call, output in ((1, calls[0], "sunny, 21C"), (5, calls[1], "09:30")):
        (sent,) = last[at]["tool_calls"]
        assert sent["id"] == call["id"] and sent["type"] == "function"
        assert sent["function"]["name"] == call["function"]["name"]
        assert sent["function"]["arguments"] == call["function"]["arguments"]
        assert last[at + 1] == {"role": "tool", "tool_call_id": call["id"], "content": output}
    assert last[3]["content"].endswith(tool_result_reply("get_weather", "sunny, 21C"))
    assert calls[1]["function"]["arguments"] == '{"zone":"UTC"}'


def test_text_before_a_call_is_its_own_message_then_the_call_step(dialect: Stack) -> None:
    s, tok = dialect, token()
    client = s.http(s.key())
    assistant_id = assistant(client, tools=[WEATHER])
    thread_id = thread(client, f"{tok}: explain, then call get_weather for Oslo")
    events = post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    transcript = check(events)
    run = run_of(events)
    created = [d["type"] for n, d in events if n == "thread.run.step.created"]
    assert created == ["message_creation", "tool_calls"]
    names = [n for n, _ in events]
    assert names.index("thread.message.completed") < names.index("thread.run.step.delta")
    assert list(transcript.texts.values()) == ["Let me call get_weather."]
    (call,) = required_calls(run)

    listed = steps(client, thread_id, run["id"])
    assert [(st["type"], st["status"]) for st in listed] == [
        ("message_creation", "completed"),
        ("tool_calls", "in_progress"),
    ]
    assert listed[1]["step_details"]["tool_calls"][0]["id"] == call["id"]
    message_id = listed[0]["step_details"]["message_creation"]["message_id"]
    assert [text_of(m) for m in messages(client, thread_id) if m["id"] == message_id] == [
        "Let me call get_weather."
    ]

    resumed = submit(client, thread_id, run["id"], {call["id"]: "rain"})
    assert resumed.status_code == 200, resumed.text
    assert wait_run(client, thread_id, run["id"])["status"] == "completed"
    sent = s.requests_with(tok)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["content"].endswith("Let me call get_weather.")  # one message: text and its calls
    assert [c["id"] for c in sent[1]["tool_calls"]] == [call["id"]]
    assert sent[2] == {"role": "tool", "tool_call_id": call["id"], "content": "rain"}


@pytest.mark.parametrize("size", ["small", "big"])
def test_parallel_calls_stream_exactly_and_continue_the_run(dialect: Stack, size: str) -> None:
    s, tok = dialect, token()
    client = s.http(s.key())
    assistant_id = assistant(client, tools=[WEATHER, TIME])
    big = " big" if size == "big" else ""
    thread_id = thread(client, f"{tok}{big}: get_weather for Paris; get_time for CET")
    events = post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    transcript = check(events)
    run = run_of(events)

    expected = reply_for(parse_chat_request(s.requests_with(tok)[0]), "k").tool_calls
    assert [c.name for c in expected] == ["get_weather", "get_time"]
    assert len(expected[0].arguments) > (4000 if big else 0)
    step_ids = [d["id"] for n, d in events if n == "thread.run.step.created"]
    assert len(step_ids) == 1
    firsts: dict[int, dict[str, Any]] = {}
    for name, data in events:
        if name == "thread.run.step.delta":
            for call in data["delta"]["step_details"]["tool_calls"]:
                firsts.setdefault(call["index"], call)
    assert sorted(firsts) == [0, 1]
    for index, want in enumerate(expected):
        first = firsts[index]
        assert first["id"] and first["type"] == "function"
        assert first["function"]["name"] == want.name
        streamed = transcript.tool_calls[f"{step_ids[0]}:{index}"]
        assert streamed["name"] == want.name and streamed["arguments"] == want.arguments
    required = required_calls(run)
    ids = [c["id"] for c in required]
    assert len(set(ids)) == 2 and ids == [firsts[0]["id"], firsts[1]["id"]]
    assert [c["function"]["arguments"] for c in required] == [c.arguments for c in expected]

    partial = submit(client, thread_id, run["id"], {ids[0]: "warm"})
    assert partial.status_code == 400, partial.text
    assert ids[1] in partial.json()["error"]["message"]
    assert get(client, f"/threads/{thread_id}/runs/{run['id']}")["status"] == "requires_action"

    resumed = submit(client, thread_id, run["id"], {ids[0]: "warm", ids[1]: "noon"}, stream=True)
    assert resumed.status_code == 200, resumed.text
    after = check_resumed(parse_sse(resumed.content))
    assert after.final_run is not None and after.final_run["status"] == "completed"
    assert after.final_run["id"] == run["id"]
    want_text = f"{tool_result_reply('get_weather', 'warm')} {tool_result_reply('get_time', 'noon')}"
    assert list(after.texts.values()) == [want_text]
    stored = get(client, f"/threads/{thread_id}/runs/{run['id']}/steps", order="asc")["data"]
    outputs = [c["function"]["output"] for c in stored[0]["step_details"]["tool_calls"]]
    assert outputs == ["warm", "noon"]


def waiting_run(s: Stack, client: httpx.Client, tok: str) -> tuple[str, dict[str, Any]]:
    assistant_id = assistant(client, tools=[WEATHER])
    thread_id = thread(client, f"{tok}: Call get_weather for Rome")
    return thread_id, run_of(
        post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    )


def assert_rejected(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}, error
    assert error["type"] == "invalid_request_error"
    assert all(w in error["message"] for w in words), (words, error["message"])


@pytest.mark.parametrize("case", ["unknown", "duplicate"])
def test_bad_tool_outputs_are_400s_and_change_nothing(dialect: Stack, case: str) -> None:
    s, tok = dialect, token()
    client = s.http(s.key())
    thread_id, run = waiting_run(s, client, tok)
    (call,) = required_calls(run)
    path = f"/threads/{thread_id}/runs/{run['id']}"
    before = (get(client, path), steps(client, thread_id, run["id"]))
    outputs = [{"tool_call_id": call["id"], "output": "a"}]
    outputs.append({"tool_call_id": "call_nope" if case == "unknown" else call["id"], "output": "b"})
    response = client.post(f"{path}/submit_tool_outputs", json={"tool_outputs": outputs})
    assert_rejected(response, "call_nope" if case == "unknown" else call["id"])
    assert (get(client, path), steps(client, thread_id, run["id"])) == before
    assert len(s.requests_with(tok)) == 1


def test_outputs_for_a_run_not_waiting_are_a_400(dialect: Stack) -> None:
    s, tok = dialect, token()
    client = s.http(s.key())
    thread_id, run = waiting_run(s, client, tok)
    (call,) = required_calls(run)
    assert submit(client, thread_id, run["id"], {call["id"]: "ok"}).status_code == 200
    path = f"/threads/{thread_id}/runs/{run['id']}"
    done = wait_run(client, thread_id, run["id"])
    assert done["status"] == "completed"
    before = (done, steps(client, thread_id, run["id"]))
    assert_rejected(submit(client, thread_id, run["id"], {call["id"]: "again"}), "completed")
    assert (get(client, path), steps(client, thread_id, run["id"])) == before
    assert len(s.requests_with(tok)) == 2
