"""The deterministic chat model: a ChatRequest to its reply (reasoning, text, tool calls, finish, usage).

The visible results are those of the Assistants model (`assistants.model`) for the same text: the words
are `gateway.emulator.replies`'.
Rules, first match wins:
1. the last message is a tool message: text `replies.tool_result_reply(name, output)` for each trailing
   tool message in order, joined by a space (`name`: the function of the call it answers; a
   `file_search` result is quoted and cited by `chat.search.quote`; a `code_interpreter` result is
   answered by `chat.code.answer`, set apart from its neighbours by a blank line), finish `stop`;
1a. a `code_interpreter` function is offered, the last message is a user message, `tool_choice` is not
   `none` and `chat.code.plan` finds code to run (the user's fenced ```python blocks, else a program
   for a plot or compute request, else, when the system message forces the tool, a forced call): one
   `code_interpreter` call per program, then a `file_search` call (the user's text) if the text names
   `file_search`, then calls of the function tools the text names; finish
   `tool_calls`. It comes before 1b: such a request searches files only when it names file_search;
1b. a `file_search` function is offered, the last message is a user message and `tool_choice` is not
   `none`: a `file_search` call with the user's text, then calls of the function tools it names;
2. the last message is a user message, `tool_choice` is not `none`, and its text names function tools
   of the request (as words): one call per named tool in the order named, arguments
   `replies.function_arguments(text, <end of the name>, <the tool's parameters>)` plus
   `"padding": "x" * 4000` when the text has the word "big"; with the word "explain", the short text
   `Let me call <names>.` comes first; finish `tool_calls`;
3. otherwise the text `replies.text_reply(user text)`, finish `stop`; when the last user message holds
   images (the vision model), `chat.vision.describe_images(their URLs)` and a space come first.
Every reply thinks first. Tokens are ceil(chars / 4); with a token limit the reply (reasoning, then
text, then arguments) is cut at 4 x limit characters: tool calls are dropped and finish is `length`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.emulator.chat import code, search
from gateway.emulator.chat.request import ChatRequest, ChatTool
from gateway.emulator.chat.vision import describe_images
from gateway.emulator.replies import function_arguments, text_reply, tool_result_reply

BIG_PADDING = 4000


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, as a string


@dataclass(frozen=True)
class ChatReply:
    reasoning: str
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str  # stop | length | tool_calls
    thinking_done: bool  # False when a length cut fell inside the reasoning
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int

    def usage(self) -> dict[str, Any]:
        return {
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "total_characters": 0,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "prompt_tokens_details": {"cached_tokens": 0},
        }


def _has_word(text: str, word: str) -> re.Match[str] | None:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE)


def named_tools(text: str, tools: tuple[ChatTool, ...]) -> list[tuple[ChatTool, int]]:
    """The request's tools named in `text` (exact case, as words), each with the end index of its first
    mention, in the order first named."""
    found = [
        (m.start(), i, m.end())
        for i, tool in enumerate(tools)
        if (m := re.search(rf"(?<!\w){re.escape(tool.name)}(?!\w)", text))
    ]
    return [(tools[i], end) for _, i, end in sorted(found)]


def call_id(key: str, index: int) -> str:
    """MiniMax-style `call_function_<12 chars>_<n>`; `key` (the response id) makes ids unique per reply."""
    return f"call_function_{key[:12]}_{index + 1}"


def _arguments(user_text: str, tool: ChatTool, name_end: int) -> str:
    args = function_arguments(user_text, name_end, tool.parameters)
    if not _has_word(user_text, "big"):
        return args
    padded: dict[str, Any] = orjson.loads(args)
    padded["padding"] = "x" * BIG_PADDING
    return orjson.dumps(padded).decode()


def _tool_reply(name: str, output: str, user_text: str) -> tuple[str, bool]:
    """The reply to one tool result, and whether it is a code answer (several lines, fenced output)."""
    if name == search.NAME:
        return search.quote(output, user_text), False
    if name == code.NAME:
        return code.answer(output), True
    return tool_result_reply(name, output), False


def _joined(replies: list[tuple[str, bool]]) -> str:
    """Replies joined by a space, or by a blank line next to a code answer (a fence closes its line)."""
    out = ""
    for i, (text, block) in enumerate(replies):
        if i:
            out += "\n\n" if block or replies[i - 1][1] else " "
        out += text
    return out


def _code_calls(
    req: ChatRequest, key: str, named: list[tuple[ChatTool, int]]
) -> tuple[str, str, tuple[ToolCall, ...]] | None:
    """Rule 1a: the code_interpreter calls `chat.code.plan` finds, then the other tools named."""
    offered = [t.name for t in req.tools]
    if not code.offered(offered):
        return None
    plan = code.plan(req.user_text, req.system_text, forced=code.FORCE in req.system_text)
    if plan is None:
        return None
    shape = (lambda program: program) if req.faults.raw_code else code.arguments  # `raw_code`: not JSON
    runs = [ToolCall(call_id(key, i), code.NAME, shape(p)) for i, p in enumerate(plan.programs)]
    if any(t.name == search.NAME for t, _ in named):  # the text names file_search too: it searches
        queries = orjson.dumps({"queries": [req.user_text]}).decode()
        runs.append(ToolCall(call_id(key, len(runs)), search.NAME, queries))
    others = [(t, end) for t, end in named if t.name not in (code.NAME, search.NAME)]
    more = [
        ToolCall(call_id(key, len(runs) + i), tool.name, _arguments(req.user_text, tool, end))
        for i, (tool, end) in enumerate(others)
    ]
    return plan.reasoning, "", (*runs, *more)


def _draft(req: ChatRequest, key: str) -> tuple[str, str, tuple[ToolCall, ...]]:
    if req.last_role == "tool":
        n = len(req.tool_results)
        reasoning = f"I received {n} tool result{'s' if n != 1 else ''}. I will quote each one verbatim."
        return (
            reasoning,
            _joined([_tool_reply(r.name, r.output, req.user_text) for r in req.tool_results]),
            (),
        )
    asking = req.last_role == "user" and req.tool_choice != "none"
    named = named_tools(req.user_text, req.tools) if asking else []
    if asking and (coded := _code_calls(req, key, named)) is not None:
        return coded
    if asking and search.offered([t.name for t in req.tools]):
        search_call = ToolCall(
            call_id(key, 0), search.NAME, orjson.dumps({"queries": [req.user_text]}).decode()
        )
        others = tuple(
            ToolCall(call_id(key, i + 1), tool.name, _arguments(req.user_text, tool, end))
            for i, (tool, end) in enumerate(t for t in named if t[0].name != search.NAME)
        )
        return "The answer may be in the user's files: I will search them.", "", (search_call, *others)
    if named:
        calls = tuple(
            ToolCall(call_id(key, i), tool.name, _arguments(req.user_text, tool, end))
            for i, (tool, end) in enumerate(named)
        )
        names = [tool.name for tool, _ in named]
        listed = ", ".join(names)
        reasoning = (
            f"The user named {listed}. I will call {'it' if len(names) == 1 else 'them'} with their text."
        )
        text = f"Let me call {listed}." if _has_word(req.user_text, "explain") else ""
        return reasoning, text, calls
    reasoning = (
        f"The user wrote {len(req.user_text)} characters. I should echo them back, then add two sentences."
    )
    seen = describe_images(req.images) + " " if req.images else ""
    return reasoning, seen + text_reply(req.user_text), ()


def reply_for(req: ChatRequest, key: str) -> ChatReply:
    """The reply to `req`; `key` seeds the tool-call ids (the emulator passes the response id)."""
    reasoning, text, calls = _draft(req, key)
    finish = "tool_calls" if calls else "stop"
    thinking_done = True
    total = len(reasoning) + len(text) + sum(len(c.arguments) for c in calls)
    if req.max_tokens is not None and total > 4 * req.max_tokens:
        budget = 4 * req.max_tokens
        thinking_done = budget >= len(reasoning)
        reasoning, text = reasoning[:budget], text[: max(0, budget - len(reasoning))]
        calls, finish = (), "length"
        total = len(reasoning) + len(text)
    return ChatReply(
        reasoning=reasoning,
        text=text,
        tool_calls=calls,
        finish_reason=finish,
        thinking_done=thinking_done,
        prompt_tokens=req.prompt_tokens,
        completion_tokens=math.ceil(total / 4),
        reasoning_tokens=math.ceil(len(reasoning) / 4),
    )
