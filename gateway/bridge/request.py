"""OpenAI request bodies -> MiniMax request bodies. Pure: the api layer sends what these return.

A run's input turn goes in create_stream's `messages` (MiniMax appends it to the thread and echoes
it); every other new message is added first with `threads/messages/add`, in order
(docs/minimax-wire.md, "The stream request").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.bridge.shapes import tool_to_minimax
from gateway.errors import InvalidRequest
from gateway.schemas.openai import AssistantIn, AssistantPatch, MessageIn, RunIn, TextPart

_TOOL_TYPES = frozenset({"function", "code_interpreter", "file_search", "retrieval", "web_search"})


def model_name(model: str, aliases: Mapping[str, str]) -> str:
    return aliases.get(model, model)


def tools(tools_in: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools_in):
        kind = tool.get("type")
        if kind not in _TOOL_TYPES:
            raise InvalidRequest(f"Invalid tool type {kind!r}", param=f"{param}[{i}].type")
        if kind == "function" and not (tool.get("function") or {}).get("name"):
            raise InvalidRequest("A function tool needs function.name", param=f"{param}[{i}].function.name")
        out.append(tool_to_minimax(tool))
    return out


def assistant(body: AssistantIn, aliases: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model_name(body.model, aliases), "tools": tools(body.tools, "tools")}
    for key in ("name", "description", "instructions", "metadata"):
        if (value := getattr(body, key)) is not None:
            out[key] = value
    return out


def assistant_patch(body: AssistantPatch, aliases: Mapping[str, str]) -> dict[str, Any]:
    """The fields an `assistants.update` sets (MiniMax names)."""
    out: dict[str, Any] = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "tools"}
    if body.model is not None:
        out["model"] = model_name(body.model, aliases)
    if body.tools is not None:
        out["tools"] = tools(body.tools, "tools")
    return out


def message_text(message: MessageIn, param: str) -> str:
    """MiniMax messages are plain strings: text parts are joined; images cannot be carried."""
    if isinstance(message.content, str):
        return message.content
    texts = []
    for i, part in enumerate(message.content):
        if part.type != "text":
            raise InvalidRequest(
                f"MiniMax's Assistants API takes text only; {part.type} content cannot be sent",
                param=f"{param}.content[{i}].type",
            )
        assert isinstance(part, TextPart)
        texts.append(part.text)
    return "\n".join(texts)


def add_message(thread_id: str, message: MessageIn, param: str) -> dict[str, Any]:
    """Body of `threads/messages/add`."""
    out: dict[str, Any] = {
        "thread_id": thread_id,
        "role": message.role,
        "content": message_text(message, param),
    }
    if message.metadata:
        out["metadata"] = message.metadata
    return out


def split_input(messages: list[MessageIn]) -> tuple[list[MessageIn], MessageIn | None]:
    """(messages to add first, the run's input turn): the last message if it is the user's."""
    if messages and messages[-1].role == "user":
        return messages[:-1], messages[-1]
    return messages, None


def run(
    thread_id: str,
    body: RunIn,
    aliases: Mapping[str, str],
    *,
    instructions: str | None,
    turn: MessageIn | None,
    param: str,
) -> dict[str, Any]:
    """Body of `threads/run/create_stream` (and, without `stream`/`messages`, of `threads/run/create`)."""
    out: dict[str, Any] = {
        "stream": 1,
        "thread_id": thread_id,
        "assistant_id": body.assistant_id,
        "messages": [],
    }
    if turn is not None:
        out["messages"] = [{"type": 1, "role": "user", "content": message_text(turn, param)}]
    if body.model:
        out["model"] = model_name(body.model, aliases)
    if instructions is not None:
        out["instructions"] = instructions
    if body.tools is not None:
        out["tools"] = tools(body.tools, "tools")
    if body.metadata:
        out["metadata"] = body.metadata
    return out
