"""The whole Assistants surface through the gateway with openai 3.x: CRUD and paging, polled runs,
tool outputs (JSON and streamed), cancel, run steps, and the SDK error classes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads.run_submit_tool_outputs_params import ToolOutput
from openai.types.beta.threads.runs import FunctionToolCall, ToolCallsStepDetails

from gateway.emulator.replies import text_reply, tool_result_reply
from tests.sdk_messages import first_text

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a place",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
POLL_MS = 50


def sdk(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway_url, api_key="sk-test", max_retries=0)


def test_assistant_crud_with_paging(gateway_url: str) -> None:
    client = sdk(gateway_url)
    made = [client.beta.assistants.create(model="abab6.5s-chat", name=f"page-{i}") for i in range(5)]
    ours = {a.id for a in made}
    listed = [a.id for a in client.beta.assistants.list(limit=2, order="asc") if a.id in ours]
    assert listed == [a.id for a in made]  # auto-pagination walked several pages and ended
    first_page = client.beta.assistants.list(limit=2)
    assert len(first_page.data) == 2 and first_page.has_more
    got = client.beta.assistants.retrieve(made[0].id)
    assert got.name == "page-0" and got.model == "abab6.5s-chat"
    changed = client.beta.assistants.update(made[0].id, name="renamed", instructions="Be brief.")
    assert (changed.name, changed.instructions) == ("renamed", "Be brief.")
    deleted = client.beta.assistants.delete(made[0].id)
    assert deleted.deleted and deleted.id == made[0].id
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(made[0].id)


def test_thread_and_message_crud_with_paging(gateway_url: str, backend: str) -> None:
    client = sdk(gateway_url)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "first"}], metadata={"k": "v"})
    assert client.beta.threads.retrieve(thread.id).metadata == {"k": "v"}
    assert client.beta.threads.update(thread.id, metadata={"k": "w"}).metadata == {"k": "w"}
    for i in range(4):
        client.beta.threads.messages.create(
            thread.id, role="user", content=[{"type": "text", "text": f"m{i}"}]
        )
    texts = [first_text(m) for m in client.beta.threads.messages.list(thread.id, limit=2, order="asc")]
    assert texts == ["first", "m0", "m1", "m2", "m3"]
    newest = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert client.beta.threads.messages.retrieve(newest.id, thread_id=thread.id).id == newest.id
    if backend == "assistants":  # MiniMax's Assistants API has no thread delete
        with pytest.raises(openai.BadRequestError) as caught:
            client.beta.threads.delete(thread.id)
        assert caught.value.code == "unsupported_operation"
    else:
        assert client.beta.threads.delete(thread.id).deleted
        with pytest.raises(openai.NotFoundError):
            client.beta.threads.messages.list(thread.id)


def test_non_streamed_run_polled_to_completion(gateway_url: str) -> None:
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="abab6.5s-chat")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="How are you?")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=POLL_MS
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert reply.role == "assistant" and reply.run_id == run.id
    assert first_text(reply) == text_reply("How are you?")
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run.id]


def test_create_and_run_poll(gateway_url: str) -> None:
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="abab6.5s-chat")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hi"}]},
        poll_interval_ms=POLL_MS,
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(run.thread_id).data[0]
    assert first_text(reply) == text_reply("Hi")


class Submitter(AssistantEventHandler):
    """Answers `requires_action` inside the handler, the way the SDK's docs show."""

    def __init__(self, client: openai.OpenAI, outputs: dict[str, str]) -> None:
        super().__init__()
        self.client = client
        self.outputs = outputs
        self.deltas: list[str] = []
        self.after: Recorder | None = None
        self.final_text = ""
        self.final_status = ""
        self.steps_done: list[str] = []

    def on_event(self, event: openai.types.beta.AssistantStreamEvent) -> None:
        if event.event == "thread.run.requires_action":
            assert event.data.required_action is not None
            calls = event.data.required_action.submit_tool_outputs.tool_calls
            answers: list[ToolOutput] = [
                {"tool_call_id": c.id, "output": self.outputs[c.function.name]} for c in calls
            ]
            after = Recorder()
            with self.client.beta.threads.runs.submit_tool_outputs_stream(
                tool_outputs=answers,
                run_id=event.data.id,
                thread_id=event.data.thread_id,
                event_handler=after,
            ) as stream:
                stream.until_done()
                self.final_text = first_text(stream.get_final_messages()[0])
                self.final_status = stream.get_final_run().status
            self.after = after


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.names: list[str] = []

    def on_event(self, event: openai.types.beta.AssistantStreamEvent) -> None:
        self.names.append(event.event)

    def on_text_delta(self, delta: openai.types.beta.threads.TextDelta, snapshot: object) -> None:
        self.deltas.append(delta.value or "")


def test_a_dated_openai_model_name_runs_as_its_base(gateway_url: str, backend: str) -> None:
    """Assistants code often names a snapshot (LlamaIndex's agent defaults to `gpt-4-1106-preview`): it
    runs as the model its undated name maps to (the emulators refuse any name MiniMax does not know)."""
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="gpt-4-1106-preview")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Snapshot names"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, model="gpt-4o-2024-08-06", poll_interval_ms=POLL_MS
    )
    assert run.status == "completed", run.last_error
    # The engine keeps the name the client gave; the bridge shows what MiniMax ran (gpt-4o's model).
    assert run.model == ("gpt-4o-2024-08-06" if backend == "engine" else "abab6.5s-chat")
    assert first_text(client.beta.threads.messages.list(thread.id).data[0]) == text_reply("Snapshot names")
    if backend == "engine":  # the bridge leaves unknown names to MiniMax
        with pytest.raises(openai.BadRequestError) as caught:
            client.beta.assistants.create(model="gpt-4-32k-0613")
        assert caught.value.code == "model_not_found"


def test_tool_flow_streamed_end_to_end(gateway_url: str) -> None:
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="abab6.5s-chat", tools=[WEATHER])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Call get_weather for Paris"}])
    handler = Submitter(client, {"get_weather": "sunny, 21°C ☀"})
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as s:
        s.until_done()
        first_run = s.get_final_run()
    assert first_run.status == "requires_action"
    expected = tool_result_reply("get_weather", "sunny, 21°C ☀")
    assert handler.final_status == "completed"
    assert handler.final_text == expected
    assert handler.after is not None and "".join(handler.after.deltas) == expected
    names = handler.after.names
    assert names[:3] == ["thread.run.queued", "thread.run.in_progress", "thread.run.step.completed"]
    assert "thread.run.created" not in names and names[-1] == "thread.run.completed"
    steps = client.beta.threads.runs.steps.list(run_id=first_run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    details = steps[0].step_details
    assert isinstance(details, ToolCallsStepDetails), details
    call = details.tool_calls[0]
    assert isinstance(call, FunctionToolCall), call
    assert call.function.name == "get_weather" and call.function.output == "sunny, 21°C ☀"
    assert json.loads(call.function.arguments) == {"location": "Paris"}
    assert (
        client.beta.threads.runs.steps.retrieve(steps[1].id, thread_id=thread.id, run_id=first_run.id).id
        == steps[1].id
    )


def test_tool_flow_polled(gateway_url: str) -> None:
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="abab6.5s-chat", tools=[WEATHER])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Call get_weather for Oslo"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=POLL_MS
    )
    assert run.status == "requires_action" and run.required_action is not None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert json.loads(call.function.arguments) == {"location": "Oslo"}
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        tool_outputs=[{"tool_call_id": call.id, "output": "snow"}],
        run_id=run.id,
        thread_id=thread.id,
        poll_interval_ms=POLL_MS,
    )
    assert done.status == "completed" and done.id == run.id
    reply = client.beta.threads.messages.list(thread.id).data[0]
    assert first_text(reply) == tool_result_reply("get_weather", "snow")


def test_cancel_a_running_run(gateway_url: str) -> None:
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="abab6.5s-chat")
    # Paced: the bridge's emulator reads the run's metadata, the engine's chat emulator the user text.
    slowly = "Say a lot [[fault:pace:200]]"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": slowly}])
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, metadata={"emulator_pace_ms": "200"}
    )
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status in ("cancelling", "cancelled")
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=POLL_MS)
    assert final.status == "cancelled" and final.cancelled_at is not None


def test_run_metadata_update(gateway_url: str) -> None:
    client = sdk(gateway_url)
    assistant = client.beta.assistants.create(model="abab6.5s-chat")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "x"}]},
        poll_interval_ms=POLL_MS,
    )
    updated = client.beta.threads.runs.update(run.id, thread_id=run.thread_id, metadata={"tag": "v2"})
    assert updated.metadata == {"tag": "v2"}


def test_async_client_tool_flow(gateway_url: str) -> None:
    async def scenario() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=gateway_url, api_key="sk-test", max_retries=0)
        assistant = await client.beta.assistants.create(model="abab6.5s-chat", tools=[WEATHER])  # type: ignore[list-item]
        thread = await client.beta.threads.create(
            messages=[{"role": "user", "content": "Call get_weather for Rome"}]
        )
        async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
            await stream.until_done()
            run = await stream.get_final_run()
        assert run.required_action is not None
        (call,) = run.required_action.submit_tool_outputs.tool_calls
        async with client.beta.threads.runs.submit_tool_outputs_stream(
            tool_outputs=[{"tool_call_id": call.id, "output": "warm"}], run_id=run.id, thread_id=thread.id
        ) as stream:
            await stream.until_done()
            messages = await stream.get_final_messages()
            final = await stream.get_final_run()
        await client.close()
        return first_text(messages[0]), final.status

    text, status = asyncio.run(scenario())
    assert (text, status) == (tool_result_reply("get_weather", "warm"), "completed")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.beta.assistants.retrieve("asst_" + "0" * 32), openai.NotFoundError),
        (lambda c: c.beta.threads.retrieve("thread_" + "0" * 32), openai.NotFoundError),
        (
            lambda c: c.beta.threads.runs.retrieve("run_" + "0" * 32, thread_id="thread_" + "0" * 32),
            openai.NotFoundError,
        ),
        (lambda c: c.beta.threads.messages.list("thread_" + "0" * 32), openai.NotFoundError),
        (
            lambda c: c.beta.threads.runs.create(thread_id="thread_" + "0" * 32, assistant_id="asst_x"),
            openai.NotFoundError,
        ),
        (lambda c: c.beta.assistants.create(model="not-a-minimax-model"), openai.BadRequestError),
        (lambda c: c.beta.assistants.list(limit=0), openai.BadRequestError),
        (lambda c: c.beta.assistants.list(limit=101), openai.BadRequestError),
        (lambda c: c.beta.threads.messages.list("thread_x", order="sideways"), openai.BadRequestError),
        (
            lambda c: c.beta.assistants.create(model="abab6.5s-chat", tools=[{"type": "browser"}]),
            openai.BadRequestError,
        ),
        (
            lambda c: c.beta.threads.runs.submit_tool_outputs(
                run_id="run_" + "0" * 32, thread_id="thread_" + "0" * 32, tool_outputs=[]
            ),
            openai.NotFoundError,
        ),
    ],
)
def test_errors_raise_the_sdk_class_openai_would(
    gateway_url: str, call: object, error: type[Exception]
) -> None:
    client = sdk(gateway_url)
    with pytest.raises(error):
        call(client)  # type: ignore[operator]


def test_node_sdk_whole_surface(gateway_url: str, backend: str, node_sdk: Path) -> None:
    done = subprocess.run(
        ["node", str(node_sdk), gateway_url, "surface", "Hello node"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["paged"] is True
    assert (seen["updated"], seen["deleted"], seen["retrieveDeleted"]) == ("renamed", True, "NotFoundError")
    assert (seen["polledStatus"], seen["polledReply"]) == ("completed", text_reply("Hello node"))
    assert seen["firstStatus"] == "requires_action"
    expected = tool_result_reply("get_weather", "mild")
    assert (seen["submitStatus"], seen["submitText"], seen["submitDeltas"]) == (
        "completed",
        expected,
        expected,
    )
    assert seen["submitEvents"][:3] == [
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.completed",
    ]
    assert seen["stepTypes"] == ["tool_calls", "message_creation"] and seen["stepOutput"] == "mild"
    assert (seen["pollSubmitStatus"], seen["pollSubmitReply"]) == (
        "completed",
        tool_result_reply("get_weather", "cold"),
    )
    assert seen["cancelled"] == "cancelled"
    assert seen["errors"] == {
        "notFound": "NotFoundError:404",
        "badModel": "BadRequestError:400",
        "threadDelete": "BadRequestError:400" if backend == "assistants" else "no error",
    }
