"""LangChain's Assistants agent (`langchain_classic`'s `OpenAIAssistantRunnable`) through the gateway, on
both backends: a LangChain tool called by the assistant and run by `AgentExecutor`, its output
submitted back and the final answer read from the thread; the runnable's plain and async forms.
It polls runs (`runs.retrieve`) and reads the run's messages, where the SDK tests mostly stream."""

from __future__ import annotations

import asyncio
import json

import openai
from langchain_classic.agents import AgentExecutor
from langchain_classic.agents.openai_assistant import OpenAIAssistantRunnable
from langchain_core.tools import tool
from openai.types.beta.threads import Message, RequiredActionFunctionToolCall

from gateway.emulator.replies import text_reply, tool_result_reply
from tests.sdk_messages import first_text

MODEL = "abab6.5s-chat"
POLL_MS = 50  # LangChain's default is a second between polls
CALLS: list[str] = []


@tool
def get_weather(location: str) -> str:
    """Weather for a place."""
    CALLS.append(location)
    return f"sunny in {location}, 21°C ☀"


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-langchain", max_retries=0)


def messages(out: object) -> list[Message]:
    """What the runnable returned (a union of its modes), as the run's messages it must be here."""
    assert isinstance(out, list) and all(isinstance(m, Message) for m in out), out
    return out


def test_agent_executor_runs_the_tool_and_returns_the_answer(gateway_url: str) -> None:
    """The assistant asks for get_weather; AgentExecutor runs the LangChain tool, the runnable submits
    its output to the waiting run, and the answer is the reply that follows it."""
    CALLS.clear()
    agent = OpenAIAssistantRunnable.create_assistant(
        name="weather agent",
        instructions="Use the tools.",
        tools=[get_weather],
        model=MODEL,
        client=client(gateway_url),
        as_agent=True,
        check_every_ms=POLL_MS,
    )
    result = AgentExecutor(agent=agent, tools=[get_weather]).invoke({"content": "Call get_weather for Paris"})
    assert CALLS == ["Paris"]
    assert result["output"] == tool_result_reply("get_weather", "sunny in Paris, 21°C ☀")
    run = client(gateway_url).beta.threads.runs.retrieve(result["run_id"], thread_id=result["thread_id"])
    assert run.status == "completed" and run.assistant_id == agent.assistant_id


def test_the_runnable_returns_the_runs_messages_and_goes_on_in_its_thread(gateway_url: str) -> None:
    """Not as an agent: the run's new messages as the SDK's objects; a second invoke with the thread
    id adds a message and a run to that thread."""
    runnable = OpenAIAssistantRunnable.create_assistant(
        name="plain",
        instructions="Answer.",
        tools=[],
        model=MODEL,
        client=client(gateway_url),
        check_every_ms=POLL_MS,
    )
    first = messages(runnable.invoke({"content": "Hello from LangChain"}))
    assert [m.role for m in first] == ["assistant"]
    assert first_text(first[0]) == text_reply("Hello from LangChain")
    thread_id = first[0].thread_id
    second = messages(runnable.invoke({"content": "And again", "thread_id": thread_id}))
    assert [first_text(m) for m in second] == [text_reply("And again")]
    assert second[0].thread_id == thread_id and second[0].run_id != first[0].run_id
    listed = client(gateway_url).beta.threads.messages.list(thread_id, order="asc").data
    assert [m.role for m in listed] == ["user", "assistant", "user", "assistant"]


def test_the_async_runnable_returns_the_calls_a_run_waits_for(gateway_url: str) -> None:
    """`ainvoke` creates the thread and run, polls it to `requires_action` and returns its tool calls.
    (Past that, LangChain's async path reads a completed run's messages by iterating the awaited page
    object itself, which yields its fields rather than messages on any server, so it is not driven
    here.)"""

    async def scenario() -> list[object]:
        async with openai.AsyncOpenAI(
            base_url=gateway_url, api_key="sk-langchain", max_retries=0
        ) as async_client:
            runnable = await OpenAIAssistantRunnable.acreate_assistant(
                name="async",
                instructions="Use the tools.",
                tools=[get_weather],
                model=MODEL,
                async_client=async_client,
                client=client(gateway_url),  # it makes a sync client too, from OPENAI_API_KEY without one
                check_every_ms=POLL_MS,
            )
            calls: object = await runnable.ainvoke({"content": "Call get_weather for Lima"})
            assert isinstance(calls, list), calls
            return calls

    (call,) = asyncio.run(scenario())
    assert isinstance(call, RequiredActionFunctionToolCall), call
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"location": "Lima"}
