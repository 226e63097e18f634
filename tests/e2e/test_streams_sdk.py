"""The acceptance path: unmodified `openai` SDKs stream runs through the gateway in every dialect."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads import Message, Text, TextDelta
from openai.types.beta.threads.runs import FunctionToolCall, ToolCall

from gateway.emulator.replies import text_reply
from tests.sdk_messages import first_text
from tests.stream_checks import check, parse_sse

QUESTION = "What is 1 + 1? Answer in 中文 too 🙂"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a place",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []
        self.text_created = 0
        self.text_done: list[str] = []
        self.messages_done: list[Message] = []
        self.tools_created: list[ToolCall] = []
        self.tools_done: list[ToolCall] = []

    def on_text_created(self, text: Text) -> None:
        self.text_created += 1

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.deltas.append(delta.value or "")

    def on_text_done(self, text: Text) -> None:
        self.text_done.append(text.value)

    def on_message_done(self, message: Message) -> None:
        self.messages_done.append(message)

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.tools_created.append(tool_call)

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        self.tools_done.append(tool_call)


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)


def assert_text_run(recorder: Recorder, final_text: str, status: str) -> None:
    expected = text_reply(QUESTION)
    assert "".join(recorder.deltas) == final_text == expected
    assert recorder.text_created == 1
    assert recorder.text_done == [expected]
    assert len(recorder.messages_done) == 1
    assert status == "completed"


def test_runs_stream_with_event_handler(dialect_gateway: str) -> None:
    sdk = client(dialect_gateway)
    assistant = sdk.beta.assistants.create(model="abab6.5s-chat", name="e2e")
    thread = sdk.beta.threads.create()
    sdk.beta.threads.messages.create(thread.id, role="user", content=QUESTION)
    recorder = Recorder()
    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        final = stream.get_final_messages()
        run = stream.get_final_run()
    assert_text_run(recorder, first_text(final[0]), run.status)
    assert run.thread_id == thread.id and final[0].role == "assistant"


def test_create_and_run_stream(dialect_gateway: str) -> None:
    sdk = client(dialect_gateway)
    assistant = sdk.beta.assistants.create(model="gpt-4o", name="aliased model")
    recorder = Recorder()
    with sdk.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": QUESTION}]},
        event_handler=recorder,
    ) as stream:
        stream.until_done()
        final = stream.get_final_messages()
        run = stream.get_final_run()
    assert_text_run(recorder, first_text(final[0]), run.status)


def test_async_client_streams(dialect_gateway: str) -> None:
    async def scenario() -> tuple[str, str, list[str]]:
        sdk = openai.AsyncOpenAI(base_url=dialect_gateway, api_key="sk-test", max_retries=0)
        assistant = await sdk.beta.assistants.create(model="abab6.5s-chat")
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
        deltas: list[str] = []
        async with sdk.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
            async for event in stream:
                if event.event == "thread.message.delta":
                    deltas.extend(
                        c.text.value or ""
                        for c in event.data.delta.content or ()
                        if c.type == "text" and c.text
                    )
            messages = await stream.get_final_messages()
            run = await stream.get_final_run()
        await sdk.close()
        return first_text(messages[0]), run.status, deltas

    text, status, deltas = asyncio.run(scenario())
    assert "".join(deltas) == text == text_reply(QUESTION)
    assert status == "completed"


def test_tool_call_streams_to_requires_action(dialect_gateway: str) -> None:
    sdk = client(dialect_gateway)
    assistant = sdk.beta.assistants.create(model="abab6.5s-chat", tools=[WEATHER])  # type: ignore[list-item]
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Call get_weather for Paris"}])
    recorder = Recorder()
    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action" and run.required_action is not None
    (required,) = run.required_action.submit_tool_outputs.tool_calls
    assert required.function.name == "get_weather"
    assert json.loads(required.function.arguments) == {"location": "Paris"}
    assert [(c.id, c.type) for c in recorder.tools_created] == [(required.id, "function")]
    (done,) = recorder.tools_done
    assert isinstance(done, FunctionToolCall), done
    assert done.id == required.id and done.function.arguments == required.function.arguments


def test_raw_event_sequence_is_complete_and_exact(dialect_gateway: str) -> None:
    sdk = client(dialect_gateway)
    assistant = sdk.beta.assistants.create(model="abab6.5s-chat")
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{dialect_gateway}/threads/{thread.id}/runs",
            headers={"Authorization": "Bearer sk-test"},  # the SDK's key: the engine scopes objects to it
            json={"assistant_id": assistant.id, "stream": True},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    transcript = check(parse_sse(response.content))
    assert list(transcript.texts.values()) == [text_reply(QUESTION)]
    assert transcript.names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert transcript.names[-1] == "thread.run.completed"


def node(
    script: Path, base_url: str, scenario: str, text: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(script), base_url, scenario, text],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(params=["7", "4"], ids=["openai-npm-7", "openai-npm-4"])
def node_line(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    """Which major line of the openai npm package the streamed scenarios run with (the current one,
    and 4.x, which Node code of 2024 pins), and the environment that selects it."""
    if request.param == "7":
        return "7.", {}
    return "4.", {"OPENAI_SDK_DIR": str(request.getfixturevalue("node4_sdk"))}


@pytest.mark.parametrize("scenario", ["stream", "create_and_run"])
def test_node_sdk_streams(
    dialect_gateway: str, node_sdk: Path, node_line: tuple[str, dict[str, str]], scenario: str
) -> None:
    major, env = node_line
    seen = node(node_sdk, dialect_gateway, scenario, QUESTION, env)
    assert seen["sdk"].startswith(major)
    expected = text_reply(QUESTION)
    assert seen["status"] == "completed"
    assert "".join(seen["deltas"]) == expected
    assert seen["final_texts"] == [expected]
    assert seen["textCreated"] == 1 and seen["textDone"] == [expected] and seen["messageDone"] == 1


def test_node_sdk_tool_call(
    dialect_gateway: str, node_sdk: Path, node_line: tuple[str, dict[str, str]]
) -> None:
    major, env = node_line
    seen = node(node_sdk, dialect_gateway, "tool", "Call get_weather for Paris", env)
    assert seen["sdk"].startswith(major)
    assert seen["status"] == "requires_action"
    (required,) = seen["required"]
    assert seen["toolCallsCreated"] == [{"id": required["id"], "type": "function", "name": "get_weather"}]
    assert json.loads(seen["toolCallsDone"][0]["arguments"]) == {"location": "Paris"}
