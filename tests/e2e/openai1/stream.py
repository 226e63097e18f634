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


def main() -> None:
    client = openai.OpenAI(max_retries=0)
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])
    out: dict[str, Any] = {"sdk": openai.__version__}

    thread = client.beta.threads.create(messages=[{"role": "user", "content": sys.argv[1]}])
    plain = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=plain
    ) as s:
        s.until_done()
        run = s.get_final_run()
        out["plain"] = {
            "status": run.status,
            "events": plain.events,
            "deltas": plain.deltas,
            "final": texts(s.get_final_messages()),
        }

    thread = client.beta.threads.create(messages=[{"role": "user", "content": sys.argv[2]}])
    asking = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=asking
    ) as s:
        s.until_done()
        run = s.get_final_run()
    assert run.required_action is not None, run.status
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    answered = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=thread.id,
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
        "stored": texts(client.beta.threads.messages.list(thread.id).data[:1]),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
