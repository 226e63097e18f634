"""Limits on the engine, end to end: `max_completion_tokens` (run and message `incomplete`), usage as
MiniMax counted it, and history truncation (`last_messages`, `max_prompt_tokens`) in whole turns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.emulator.chat.model import reply_for
from gateway.emulator.chat.request import parse_chat_request
from gateway.emulator.config import EmulatorConfig
from tests.engine.helpers_e2e import (
    WEATHER,
    Stack,
    add_message,
    assistant,
    delta_texts,
    get,
    messages,
    post_events,
    run_of,
    stack,
    text_of,
    thread,
    token,
    wait_run,
)
from tests.stream_checks import check

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(EmulatorConfig(chars_per_chunk=6), tmp_path_factory.mktemp("limits")) as s:
        yield s


def usage_of(body: dict[str, Any]) -> dict[str, int]:
    """What the emulator reported as the usage of its answer to `body`."""
    usage = reply_for(parse_chat_request(body), "k").usage()
    return {k: usage[k] for k in USAGE_KEYS}


def sent(s: Stack, tok: str, n: int = -1) -> list[dict[str, Any]]:
    return list(s.requests_with(tok)[n]["messages"])


def test_length_finish_ends_run_and_message_incomplete(s: Stack) -> None:
    tok = token()
    client = s.http(s.key())
    assistant_id = assistant(client)
    thread_id = thread(client, f"Please say a lot about {tok}: " + "lorem ipsum " * 100)  # echoed back
    body = {"assistant_id": assistant_id, "max_completion_tokens": 256}  # OpenAI's least
    events = post_events(client, f"/threads/{thread_id}/runs", body)
    transcript = check(events)
    (request,) = s.requests_with(tok)
    assert request["max_completion_tokens"] == 256
    reply = reply_for(parse_chat_request(request), "k")
    assert reply.finish_reason == "length" and reply.text  # the cut falls inside the answer text

    run = run_of(events)
    assert [n for n, _ in events][-1] == "thread.run.incomplete"
    assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
    assert {k: run["usage"][k] for k in USAGE_KEYS} == usage_of(request)
    assert list(delta_texts(events).values()) == [reply.text]
    assert "thread.message.incomplete" in transcript.names
    stored = wait_run(client, thread_id, run["id"])
    assert stored["status"] == "incomplete" and stored["incomplete_details"] == run["incomplete_details"]
    assert {k: stored["usage"][k] for k in USAGE_KEYS} == usage_of(request)
    reply_message = messages(client, thread_id)[-1]
    assert reply_message["status"] == "incomplete" and text_of(reply_message) == reply.text


def test_usage_of_a_tool_run_sums_both_model_calls(s: Stack) -> None:
    tok = token()
    client = s.http(s.key())
    assistant_id = assistant(client, tools=[WEATHER])
    thread_id = thread(client, f"{tok}: Call get_weather for Lima")
    run = run_of(post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}))
    first = s.requests_with(tok)[0]
    assert {k: run["usage"][k] for k in USAGE_KEYS} == usage_of(first)  # so far: the first call
    (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    path = f"/threads/{thread_id}/runs/{run['id']}"
    outputs = {"tool_outputs": [{"tool_call_id": call["id"], "output": "cloudy"}], "stream": True}
    response = client.post(f"{path}/submit_tool_outputs", json=outputs)
    assert response.status_code == 200, response.text
    final = wait_run(client, thread_id, run["id"])
    assert final["status"] == "completed"
    requests = s.requests_with(tok)
    assert len(requests) == 2
    want = {k: usage_of(requests[0])[k] + usage_of(requests[1])[k] for k in USAGE_KEYS}
    assert {k: final["usage"][k] for k in USAGE_KEYS} == want


def test_last_messages_sends_exactly_the_last_turns(s: Stack) -> None:
    tok = token()
    client = s.http(s.key())
    assistant_id = assistant(client, instructions="Be kind.")
    texts = [f"u1 {tok}", "a1", f"u2 {tok}", "a2", f"u3 {tok}"]
    body = {
        "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)
        ]
    }
    response = client.post("/threads", json=body)
    assert response.status_code == 200, response.text
    thread_id = response.json()["id"]
    strategy = {"type": "last_messages", "last_messages": 2}
    run = {"assistant_id": assistant_id, "truncation_strategy": strategy}
    assert run_of(post_events(client, f"/threads/{thread_id}/runs", run))["status"] == "completed"
    assert sent(s, tok) == [
        {"role": "system", "content": "Be kind."},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": f"u3 {tok}"},
    ]


def test_max_prompt_tokens_drops_oldest_turns_and_keeps_calls_with_results(s: Stack) -> None:
    tok = token()
    client = s.http(s.key())
    assistant_id = assistant(client, tools=[WEATHER])
    huge = f"{tok} " + "lorem ipsum " * 700  # about 2,100 tokens
    response = client.post(
        "/threads",
        json={"messages": [{"role": "user", "content": huge}, {"role": "assistant", "content": "Noted."}]},
    )
    thread_id = response.json()["id"]
    add_message(client, thread_id, f"{tok} big: Call get_weather for Paris")  # arguments of 4,000+ chars
    run = run_of(post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id}))
    (call,) = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    outputs = {"tool_outputs": [{"tool_call_id": call["id"], "output": "sunny"}]}
    assert client.post(f"/threads/{thread_id}/runs/{run['id']}/submit_tool_outputs", json=outputs).is_success
    assert wait_run(client, thread_id, run["id"])["status"] == "completed"
    assert len(sent(s, tok)) == 5  # nothing dropped without a limit

    add_message(client, thread_id, f"{tok} and tomorrow?")
    body = {"assistant_id": assistant_id, "max_prompt_tokens": 1500}
    assert run_of(post_events(client, f"/threads/{thread_id}/runs", body))["status"] == "completed"
    history = sent(s, tok)
    assert [m["role"] for m in history] == ["assistant", "user", "assistant", "tool", "assistant", "user"]
    assert history[0]["content"] == "Noted."  # only the huge first turn went
    assert [c["id"] for c in history[2]["tool_calls"]] == [call["id"]]
    assert history[3] == {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}

    add_message(client, thread_id, f"{tok} and the day after?")
    body = {"assistant_id": assistant_id, "max_prompt_tokens": 400}
    assert run_of(post_events(client, f"/threads/{thread_id}/runs", body))["status"] == "completed"
    history = sent(s, tok)
    # The call (4,000+ characters) does not fit: it goes with its user turn and its result, never alone.
    assert [m["role"] for m in history] == ["assistant", "user", "assistant", "user"]
    assert history[0]["content"].endswith("The result of get_weather is: sunny")
    assert (
        history[1]["content"] == f"{tok} and tomorrow?"
        and history[3]["content"] == f"{tok} and the day after?"
    )


def test_latest_turn_too_long_ends_incomplete_without_calling_minimax(s: Stack) -> None:
    tok = token()
    client = s.http(s.key())
    assistant_id = assistant(client)
    thread_id = thread(client, f"short {tok}", f"{tok} " + "word " * 800)
    before = len(s.emulator.chat_requests)
    body = {"assistant_id": assistant_id, "max_prompt_tokens": 256}
    events = post_events(client, f"/threads/{thread_id}/runs", body)
    check(events)
    run = run_of(events)
    assert [n for n, _ in events][-1] == "thread.run.incomplete"
    assert run["incomplete_details"] == {"reason": "max_prompt_tokens"}
    assert s.requests_with(tok) == [] and len(s.emulator.chat_requests) == before
    stored = get(client, f"/threads/{thread_id}/runs/{run['id']}")
    assert stored["status"] == "incomplete" and stored["incomplete_details"] == {
        "reason": "max_prompt_tokens"
    }
    assert [m["role"] for m in messages(client, thread_id)] == ["user", "user"]
