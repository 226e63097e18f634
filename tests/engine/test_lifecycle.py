"""The engine's run lifecycle end to end (real gateway, real emulator, loopback HTTP): one active run
per thread, runs completed through every client path, long replies checkpointed while they stream."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import openai

from gateway.emulator.replies import text_reply, tool_result_reply
from tests.engine.helpers_lifecycle import (
    MODEL,
    WEATHER,
    StreamReader,
    paced,
    stack,
    wait_for,
    wait_status,
)
from tests.stream_checks import check

BUSY_RUN = re.compile(r"Thread (thread_\w+) already has an active run (run_\w+)\.")
BUSY_MESSAGE = re.compile(r"Can't add messages to (thread_\w+) while a run (run_\w+) is active\.")


def _refused(response: httpx.Response, pattern: re.Pattern[str], thread_id: str, run_id: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    match = pattern.fullmatch(error["message"])
    assert match, error["message"]
    assert match.groups() == (thread_id, run_id)


def _busy(http: httpx.Client, thread_id: str, run_id: str, assistant_id: str) -> None:
    """While `run_id` is active: another run and another message are both refused, OpenAI's way."""
    another = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id})
    _refused(another, BUSY_RUN, thread_id, run_id)
    message = http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": "more"})
    _refused(message, BUSY_MESSAGE, thread_id, run_id)


def test_one_active_run_per_thread_queued_in_progress_and_requires_action(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http("k-active") as http:
        assistant = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER]}).json()
        aid = assistant["id"]
        thread = http.post("/threads", json={"messages": [{"role": "user", "content": paced("hi", 40)}]})
        tid = thread.json()["id"]
        run = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()
        assert run["status"] in ("queued", "in_progress")
        _busy(http, tid, run["id"], aid)
        wait_status(http, tid, run["id"], "in_progress")
        _busy(http, tid, run["id"], aid)
        assert wait_status(http, tid, run["id"], "completed", "failed") == "completed"

        added = http.post(f"/threads/{tid}/messages", json={"role": "user", "content": "Call get_weather"})
        assert added.status_code == 200, added.text
        waiting = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid})
        assert waiting.status_code == 200, waiting.text
        rid = waiting.json()["id"]
        wait_status(http, tid, rid, "requires_action")
        _busy(http, tid, rid, aid)
        run = http.get(f"/threads/{tid}/runs/{rid}").json()
        call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
        submitted = http.post(
            f"/threads/{tid}/runs/{rid}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": call["id"], "output": "sunny"}]},
        )
        assert submitted.status_code == 200, submitted.text
        assert wait_status(http, tid, rid, "completed", "failed") == "completed"

        after = http.post(f"/threads/{tid}/messages", json={"role": "user", "content": "thanks"})
        assert after.status_code == 200, after.text
        last = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid})
        assert last.status_code == 200, last.text
        assert wait_status(http, tid, last.json()["id"], "completed", "failed") == "completed"


def test_ten_concurrent_run_creates_on_one_thread_exactly_one_wins(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http("k-race") as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        message = {"role": "user", "content": paced("race", 30)}
        tid = http.post("/threads", json={"messages": [message]}).json()["id"]
        clients = [s.http("k-race") for _ in range(10)]
        for client in clients:  # connections open before the race, so the requests land together
            assert client.get(f"/threads/{tid}").status_code == 200
        barrier = threading.Barrier(len(clients))
        answers: list[httpx.Response] = []

        def create(client: httpx.Client) -> None:
            barrier.wait()
            answers.append(client.post(f"/threads/{tid}/runs", json={"assistant_id": aid}))

        workers = [threading.Thread(target=create, args=(c,)) for c in clients]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        for client in clients:
            client.close()
        assert len(answers) == 10
        won = [r for r in answers if r.status_code == 200]
        assert len(won) == 1, [(r.status_code, r.text) for r in answers]
        winner = won[0].json()["id"]
        for lost in (r for r in answers if r.status_code != 200):
            _refused(lost, BUSY_RUN, tid, winner)
        runs = http.get(f"/threads/{tid}/runs").json()["data"]
        assert [r["id"] for r in runs] == [winner]
        assert wait_status(http, tid, winner, "completed", "failed") == "completed"


def _assert_completed(client: openai.OpenAI, thread_id: str, run_id: str, text: str) -> None:
    """The run completed with `text` as its one reply, one message_creation step, usage and stamps."""
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    assert run.status == "completed", run
    assert run.usage is not None and run.usage.total_tokens > 0 and run.usage.completion_tokens > 0
    assert run.started_at is not None and run.completed_at is not None
    assert run.created_at <= run.started_at <= run.completed_at
    assert run.failed_at is None and run.cancelled_at is None and run.last_error is None
    messages = client.beta.threads.messages.list(thread_id, run_id=run_id)
    replies = [m for m in messages if m.role == "assistant"]
    assert len(replies) == 1
    reply = replies[0]
    assert reply.status == "completed" and reply.run_id == run_id
    assert [c.text.value for c in reply.content if c.type == "text"] == [text]
    steps = list(client.beta.threads.runs.steps.list(run_id, thread_id=thread_id))
    assert len(steps) == 1, steps
    step = steps[0]
    assert step.type == "message_creation" and step.status == "completed"
    assert step.step_details.type == "message_creation"
    assert step.step_details.message_creation.message_id == reply.id


def test_create_and_poll_completes(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        client = s.sdk("k-poll")
        assistant = client.beta.assistants.create(model=MODEL)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello there"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed"
        _assert_completed(client, thread.id, run.id, text_reply("Hello there"))


def test_streamed_create_and_run_completes(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        client = s.sdk("k-stream")
        assistant = client.beta.assistants.create(model=MODEL)
        with client.beta.threads.create_and_run_stream(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Stream me"}]}
        ) as stream:
            stream.until_done()
            run = stream.get_final_run()
            messages = stream.get_final_messages()
        assert run.status == "completed"
        assert [c.text.value for m in messages for c in m.content if c.type == "text"] == [
            text_reply("Stream me")
        ]
        _assert_completed(client, run.thread_id, run.id, text_reply("Stream me"))


def test_async_client_runs_and_tool_flow(tmp_path: Path) -> None:
    async def scenario(url: str) -> tuple[str, str, str]:
        client = openai.AsyncOpenAI(base_url=url, api_key="k-async", max_retries=0)
        assistant = await client.beta.assistants.create(model=MODEL, tools=[WEATHER])  # type: ignore[list-item]
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Async hello"}])
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed"
        ask = "Call get_weather for Paris"
        await client.beta.threads.messages.create(thread.id, role="user", content=ask)
        tool_run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert tool_run.status == "requires_action" and tool_run.required_action is not None
        call = tool_run.required_action.submit_tool_outputs.tool_calls[0]
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"location": "Paris"}
        done = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=tool_run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "22C"}],
            poll_interval_ms=50,
        )
        assert done.status == "completed"
        page = await client.beta.threads.messages.list(thread.id, run_id=done.id)
        texts = [c.text.value for m in page.data for c in m.content if c.type == "text"]
        assert texts == [tool_result_reply("get_weather", "22C")]
        await client.close()
        return thread.id, run.id, done.id

    with stack(tmp_path) as s:
        thread_id, run_id, _ = asyncio.run(scenario(s.url))
        _assert_completed(s.sdk("k-async"), thread_id, run_id, text_reply("Async hello"))


def test_long_reply_is_checkpointed_while_it_streams(tmp_path: Path) -> None:
    with stack(tmp_path, checkpoint_interval=0.05) as s, s.http("k-ckpt") as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        body = {
            "assistant_id": aid,
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": paced("tell me a long story", 60)}]},
        }
        reader = StreamReader(s.url + "/threads/runs", "k-ckpt", body).start()
        created = reader.first("thread.message.created")
        tid, mid = created["thread_id"], created["id"]
        seen: list[str] = []

        def observe() -> bool:
            response = http.get(f"/threads/{tid}/messages/{mid}")
            if response.status_code == 404:  # a reply is first written with its first checkpoint
                return False
            message: dict[str, Any] = response.json()
            if message["status"] != "in_progress":
                return True
            value = "".join(c["text"]["value"] for c in message["content"] if c["type"] == "text")
            if value and (not seen or seen[-1] != value):
                seen.append(value)
            return False

        wait_for(observe, 20)
        transcript = check(reader.join())
        final = text_reply("tell me a long story")
        assert transcript.texts[mid] == final
        stored = http.get(f"/threads/{tid}/messages/{mid}").json()
        assert stored["status"] == "completed" and stored["content"][0]["text"]["value"] == final
        assert len(seen) >= 2, f"the text was not seen growing mid-run: {seen!r}"
        for before, after in itertools.pairwise(seen):
            assert after.startswith(before) and len(after) > len(before)
        assert all(final.startswith(prefix) for prefix in seen), seen
        assert len(seen[0]) < len(final), seen  # a partial text was readable before the reply ended
