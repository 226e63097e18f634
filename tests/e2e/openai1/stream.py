"""The openai SDK 1.x's streaming helpers, as code pinned to openai<2 uses them, run by
tests/e2e/test_openai1.py in the venv of requirements.txt: `runs.stream` with an `AssistantEventHandler`
for a plain reply, then a function call answered with `submit_tool_outputs_stream`. The gateway is
reached through `OPENAI_BASE_URL` and `OPENAI_API_KEY`. Prints what the SDK made of the streams as one
JSON object."""

from __future__ import annotations

import json
import sys
from typing import Any

import openai
from openai import AssistantEventHandler
from openai.types.beta import FunctionToolParam

WEATHER: FunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a place",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


class Recorder(AssistantEventHandler):
    """Every event's name and every text delta, as the SDK hands them to a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.deltas: list[str] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value)


def texts(messages: list[Any]) -> list[str]:
    return [block.text.value for message in messages for block in message.content if block.type == "text"]


def streamed(client: openai.OpenAI, assistant_id: str, text: str) -> tuple[Any, Recorder, list[str]]:
    """A new thread with `text`, its run streamed: the final run, what the handler saw, and the final
    messages' texts once it completed (the SDK raises for them when the run stopped for a tool call)."""
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    seen = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, event_handler=seen
    ) as s:
        s.until_done()
        run = s.get_final_run()
        return run, seen, texts(s.get_final_messages()) if run.status == "completed" else []


def main() -> None:
    client = openai.OpenAI(max_retries=0)
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])
    out: dict[str, Any] = {"sdk": openai.__version__}

    run, plain, final = streamed(client, assistant.id, sys.argv[1])
    out["plain"] = {"status": run.status, "events": plain.events, "deltas": plain.deltas, "final": final}

    run, _, _ = streamed(client, assistant.id, sys.argv[2])
    assert run.required_action is not None, run.status
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    answered = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=run.thread_id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": sys.argv[3]}],
        event_handler=answered,
    ) as s:
        s.until_done()
        after = s.get_final_run()
    out["tool"] = {
        "status": run.status,
        "call": [call.function.name, json.loads(call.function.arguments)],
        "after": after.status,
        "deltas": answered.deltas,
        "stored": texts(client.beta.threads.messages.list(run.thread_id).data[:1]),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
