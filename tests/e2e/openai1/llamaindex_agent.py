"""LlamaIndex's `OpenAIAssistantAgent` as its users write it, run by tests/e2e/test_openai1.py in the
venv of requirements.txt (openai 1.x). The gateway is reached as OpenAI's SDK finds any server:
`OPENAI_BASE_URL` and `OPENAI_API_KEY`. The default model (`gpt-4-1106-preview`) is left as it is.
Prints what the agent did as one JSON object."""

from __future__ import annotations

import json
import sys

from llama_index.agent.openai import OpenAIAssistantAgent
from llama_index.core.tools import FunctionTool

CALLS: list[str] = []


def get_weather(location: str) -> str:
    """Weather for a place."""
    CALLS.append(location)
    return f"sunny in {location}"


def main() -> None:
    agent = OpenAIAssistantAgent.from_new(
        name="weather",
        instructions="Use the tools.",
        tools=[FunctionTool.from_defaults(fn=get_weather)],
        run_retrieve_sleep_time=0.05,
    )
    answer = agent.chat(sys.argv[1])
    history = [str(m.content) for m in agent.chat_history]
    print(json.dumps({"answer": str(answer), "calls": CALLS, "history": history, "thread": agent.thread_id}))


if __name__ == "__main__":
    main()
