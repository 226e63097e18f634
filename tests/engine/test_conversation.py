"""Multi-turn conversations on the engine, end to end: the history MiniMax gets on the second run (its
own first turn back whole, thinking included) and reasoning kept out of everything a client sees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.emulator.chat.chunks import ChunkMaker
from gateway.emulator.chat.model import ChatReply, reply_for
from gateway.emulator.chat.request import parse_chat_request
from tests.engine.dialects import DIALECTS
from tests.engine.helpers_e2e import (
    Stack,
    add_message,
    assistant,
    delta_texts,
    post_events,
    stack,
    thread,
    token,
)
from tests.stream_checks import check

INSTRUCTIONS = "Answer like a ship's captain."
MORE = "Mention the weather."


@pytest.fixture(scope="module", params=list(DIALECTS))
def dialect(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = DIALECTS[request.param]
    extra = {"think_closer_only": True} if config.chat_thinking == "closer_only" else {}
    with stack(config, tmp_path_factory.mktemp(request.param), **extra) as s:
        yield s


def sent_reply(s: Stack, body: dict[str, Any]) -> tuple[ChatReply, dict[str, Any]]:
    """What the emulator answered to `body`: the reply and the assistant message as it streamed it."""
    req = parse_chat_request(body)
    reply = reply_for(req, "k")
    return reply, ChunkMaker(s.emulator.config, req, reply, "k", 0).message()


def test_second_run_sends_the_first_turn_back_whole(dialect: Stack) -> None:
    s, tok = dialect, token()
    client = s.http(s.key())
    assistant_id = assistant(client, instructions=INSTRUCTIONS)
    first_text, second_text = f"First question {tok}?", f"Second question {tok}?"
    thread_id = thread(client, first_text)
    first = post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    check(first)
    add_message(client, thread_id, second_text)
    second = post_events(
        client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id, "additional_instructions": MORE}
    )
    check(second)

    requests = s.requests_with(tok)
    assert len(requests) == 2
    assert requests[0]["messages"] == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": first_text},
    ]
    history = requests[1]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    system = history[0]["content"]
    assert system.startswith(INSTRUCTIONS) and system.endswith(MORE), system
    assert history[1] == {"role": "user", "content": first_text}
    assert history[3] == {"role": "user", "content": second_text}

    reply, streamed = sent_reply(s, requests[0])
    replayed = history[2]
    assert "tool_calls" not in replayed
    assert replayed["content"] == streamed["content"]  # exactly as MiniMax sent it
    thinking = s.emulator.config.chat_thinking
    if thinking == "split":
        assert replayed["content"] == reply.text  # no thinking left in the content
    else:
        assert reply.reasoning in replayed["content"] and replayed["content"].endswith(reply.text)
    if thinking in ("split", "both"):
        details = replayed.get("reasoning_details")
        assert details, replayed
        assert all(d.get("type") == "reasoning.text" for d in details), details
        assert "".join(d["text"] for d in details) == reply.reasoning
    else:
        assert not replayed.get("reasoning_details"), replayed


def test_reasoning_never_reaches_a_client(dialect: Stack) -> None:
    s, tok = dialect, token()
    key = s.key()
    client, sdk = s.http(key), s.sdk(key)
    assistant_id = assistant(client)
    thread_id = thread(client, f"Hello {tok}")
    replies: list[str] = []
    for n, text in enumerate([None, f"And again {tok}"]):
        if text is not None:
            add_message(client, thread_id, text)
        events = post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
        transcript = check(events)
        reply, _ = sent_reply(s, s.requests_with(tok)[n])
        assert list(delta_texts(events).values()) == [reply.text]
        assert list(transcript.completed_texts.values()) == [reply.text]
        assert reply.reasoning and reply.reasoning not in str(events)
        replies.append(reply.text)

    listed = sdk.beta.threads.messages.list(thread_id, order="asc")
    texts = [c.text.value for m in listed.data for c in m.content if c.type == "text"]
    assert texts == [f"Hello {tok}", replies[0], f"And again {tok}", replies[1]]
    assert not any("<think>" in t or "</think>" in t for t in texts)
    assert [m.role for m in listed.data] == ["user", "assistant", "user", "assistant"]
    assert all(m.status == "completed" for m in listed.data if m.role == "assistant")
