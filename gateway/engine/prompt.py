"""A run's MiniMax chat request: instructions, the thread's history (fitted to the run's token
limits), function tools (with the functions standing for the tools the gateway serves: file_search,
code_interpreter) and sampling values, as MiniMax's chat completions take them.

History is cut in turns, never inside one: a user or assistant message starts a turn, and the tool
calls and results that follow stay with it, so a call is never sent without its result or the other
way round. `truncation_strategy: last_messages` keeps the last N turns; `auto` (with
`max_prompt_tokens`, else the model's context) drops the oldest turns until the prompt fits. Tokens
are estimated (UTF-8 bytes / 4, rounded up: about right for English, cautious for CJK; an image
`IMAGE_TOKENS`, whatever its URL's length); MiniMax's own count arrives in `usage` and is what the run
reports.

A user turn of text goes as a string; one with images as OpenAI's chat parts, text and `image_url` in
order (`image_file` parts were made `data:` URLs before: `images.inline`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from gateway.engine import code_interpreter, file_search
from gateway.engine.store import HistoryItem

CONTEXT: Final[dict[str, int]] = {"MiniMax-M3": 1_000_000}
DEFAULT_CONTEXT: Final = 204_800  # MiniMax-M2.x
LOW, HIGH = 0.01, 1.0  # MiniMax takes temperature and top_p in (0, 1]
IMAGE_TOKENS: Final = 1_000  # an estimate per image: about what a full-detail image costs vision models


class PromptTooLong(Exception):
    """The run's latest turn alone does not fit `max_prompt_tokens`: the run ends `incomplete`."""


def tokens(text: str) -> int:
    return -(-len(text.encode()) // 4)


def _text(content: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(
        (block.get("text") or {}).get("value", "") for block in content if block.get("type") == "text"
    )


def _user(content: Sequence[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    """A user turn's content: its text, or its parts in order when it holds an image."""
    if all(block.get("type") == "text" for block in content):
        return _text(content)
    parts: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": (block.get("text") or {}).get("value", "")})
        elif kind == "image_url":
            image = block["image_url"]
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": image["url"], "detail": image.get("detail") or "auto"},
                }
            )
        else:
            raise ValueError(f"a {kind} part cannot go to MiniMax (image files are inlined first)")
    return parts


def _message(item: HistoryItem) -> dict[str, Any]:
    if item.role == "tool":
        return {"role": "tool", "tool_call_id": item.tool_call_id, "content": item.output or ""}
    if item.role == "user":
        return {"role": "user", "content": _user(item.content)}
    # MiniMax wants its assistant turn back whole: the content as it was sent (with its <think>
    # part, kept in `replay`), its reasoning_details and its tool calls.
    out: dict[str, Any] = {"role": "assistant", "content": item.raw_content or _text(item.content)}
    if item.reasoning_details:
        out["reasoning_details"] = item.reasoning_details
    if item.tool_calls:
        out["tool_calls"] = item.tool_calls
    return out


def _turns(history: Sequence[HistoryItem]) -> list[list[dict[str, Any]]]:
    """Messages grouped in turns. A model reply that wrote text and then called tools is stored as
    a message and a tool step: it goes back as the one assistant message MiniMax sent."""
    turns: list[list[dict[str, Any]]] = []
    last: dict[str, Any] | None = None
    last_run: str | None = None
    for item in history:
        if (
            item.role == "assistant"
            and not item.message_id
            and last is not None
            and last["role"] == "assistant"
            and "tool_calls" not in last
            and item.run_id == last_run
        ):
            last["tool_calls"] = item.tool_calls
            continue
        if item.role == "user" or (item.role == "assistant" and item.message_id) or not turns:
            turns.append([])
        last, last_run = _message(item), item.run_id
        turns[-1].append(last)
    return turns


def _tokens(message: Mapping[str, Any]) -> int:
    content = message.get("content")
    if isinstance(content, list):
        images = sum(1 for part in content if part.get("type") == "image_url")
        text = [part for part in content if part.get("type") != "image_url"]
        return tokens(orjson.dumps({**message, "content": text}).decode()) + images * IMAGE_TOKENS
    return tokens(orjson.dumps(message).decode())


def _size(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(_tokens(m) for m in messages)


def fit(
    history: Sequence[HistoryItem], run: Mapping[str, Any], fixed: int, model: str
) -> list[dict[str, Any]]:
    """The history to send: whole turns, newest kept, within the run's limits (`fixed`: the tokens of
    what is always sent, instructions and tools). Raises `PromptTooLong`."""
    turns = _turns(history)
    strategy = run.get("truncation_strategy") or {}
    if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
        turns = turns[-int(strategy["last_messages"]) :]
    budget = run.get("max_prompt_tokens") or CONTEXT.get(model, DEFAULT_CONTEXT)
    sizes = [_size(t) for t in turns]
    total = fixed + sum(sizes)
    start = 0
    while total > budget and start < len(turns) - 1:
        total -= sizes[start]
        start += 1
    if total > budget:
        raise PromptTooLong(f"the latest turn needs about {total} tokens; max_prompt_tokens is {budget}")
    return [m for turn in turns[start:] for m in turn]


def _tools(run: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Function tools, and the `tool_choice` MiniMax takes (`none` or `auto`): `required` becomes
    `auto`; a named function becomes `auto` with that function as the only tool."""
    tools: list[dict[str, Any]] = [
        {"type": "function", "function": {k: v for k, v in t["function"].items() if k != "strict"}}
        for t in run.get("tools") or ()
        if t.get("type") == "function"
    ]
    if file_search.declared(run) is not None:  # served by the gateway (`engine.file_search`)
        tools.append(file_search.DECLARATION)
    if code_interpreter.declared(run):  # served by the gateway (`engine.code_interpreter`)
        tools.append(code_interpreter.DECLARATION)
    choice = run.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == file_search.NAME:
        tools = [file_search.DECLARATION]
        choice = "auto"
    elif isinstance(choice, dict) and choice.get("type") == code_interpreter.NAME:
        tools = [code_interpreter.DECLARATION]
        choice = "auto"
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        tools = [t for t in tools if t["function"].get("name") == name]
        choice = "auto"
    elif choice == "required":
        choice = "auto"
    return tools, (choice if choice in ("none", "auto") else None)


def _clamp(value: Any) -> float | None:
    return None if value is None else min(HIGH, max(LOW, float(value)))


def chat_request(
    run: Mapping[str, Any],
    history: Sequence[HistoryItem],
    aliases: Mapping[str, str],
    code_files: Sequence[str] = (),
) -> dict[str, Any]:
    """The streamed chat-completions body for `run` (an OpenAI run object); `aliases` maps the run's
    model name (an OpenAI or legacy name, as the client gave it) to MiniMax's; `code_files`: the names of
    the files in the code_interpreter session's /mnt/data."""
    model = aliases.get(run["model"], run["model"])
    instructions = run.get("instructions") or ""
    added = []
    if file_search.declared(run) is not None:
        added.append(file_search.CITE)
    if code_interpreter.declared(run):
        added.append(code_interpreter.guidance(code_files))
        choice = run.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == code_interpreter.NAME:
            added.append(code_interpreter.FORCE)
    if added:
        instructions = "\n\n".join([instructions, *added] if instructions else added)
    system = [{"role": "system", "content": instructions}] if instructions else []
    tools, choice = _tools(run)
    fixed = _size(system) + (tokens(orjson.dumps(tools).decode()) if tools else 0)
    body: dict[str, Any] = {
        "model": model,
        "messages": system + fit(history, run, fixed, model),
        "stream": True,
        "reasoning_split": True,
    }
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    if run.get("max_completion_tokens"):
        body["max_completion_tokens"] = run["max_completion_tokens"]
    for key in ("temperature", "top_p"):
        if (value := _clamp(run.get(key))) is not None:
            body[key] = value
    return body
