"""The deterministic "model" of the Assistants API: tool decisions, built-in tool outputs and replies,
as pure functions (the reply texts themselves are `gateway.emulator.replies`').

Decision rule for the latest user message and the tools available to a run (run override, else the
assistant's), first match wins:
1. a `function` tool whose name appears in the text as a word -> FunctionCall (arguments: see
   `function_arguments`); the run then waits in `requires_action`;
2. `web_search` and the text contains "search" -> BuiltinCall("web_search");
3. `code_interpreter` and "run code" or "calculate" -> BuiltinCall("code_interpreter");
4. `retrieval` and "file" or "document" -> BuiltinCall("retrieval");
5. otherwise a plain `text_reply`.
Built-in calls are answered by `reply_for`; only web_search adds a citation marker and annotation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import orjson

from gateway.emulator.replies import TRAILING, function_arguments, text_after, text_reply

BuiltinType = Literal["web_search", "code_interpreter", "retrieval"]
CITATION_MARKER = "【1†source】"


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: str  # a JSON object, as a string


@dataclass(frozen=True)
class BuiltinCall:
    type: BuiltinType
    query: str


Decision = FunctionCall | BuiltinCall | None


@dataclass(frozen=True)
class Reply:
    text: str
    annotations: tuple[dict[str, Any], ...] = field(default=())


def _find_word(text: str, word: str) -> re.Match[str] | None:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)


def decide(user_text: str, tools: Sequence[Mapping[str, Any]]) -> Decision:
    """What the run does for `user_text` given the available tools (rule in the module docstring)."""
    best: tuple[int, FunctionCall] | None = None
    for tool in tools:
        fn = tool.get("function")
        if tool.get("type") != "function" or not isinstance(fn, Mapping):
            continue
        name = str(fn.get("name", ""))
        match = _find_word(user_text, name) if name else None
        if match and (best is None or match.start() < best[0]):
            best = (
                match.start(),
                FunctionCall(name, function_arguments(user_text, match.end(), fn.get("parameters"))),
            )
    if best is not None:
        return best[1]
    types = {tool.get("type") for tool in tools}
    lower = user_text.lower()
    if "web_search" in types and "search" in lower:
        return BuiltinCall(
            "web_search", text_after(user_text, lower.index("search") + len("search")) or user_text
        )
    if "code_interpreter" in types:
        for key in ("run code", "calculate"):
            if key in lower:
                return BuiltinCall("code_interpreter", text_after(user_text, lower.index(key) + len(key)))
    if "retrieval" in types and ("file" in lower or "document" in lower):
        return BuiltinCall("retrieval", user_text.rstrip(TRAILING))
    return None


def _search_url(query: str) -> str:
    return f"https://example.com/search?q={quote(query)}"


def builtin_payload(call: BuiltinCall, *, done: bool) -> dict[str, Any]:
    """The tool-specific object of a built-in tool call (`web_search`/`code_interpreter`/`retrieval` key)."""
    if call.type == "code_interpreter":
        code = f"print({call.query!r})"
        outputs = [{"type": "logs", "logs": f"{call.query}\n"}] if done else []
        return {"input": code, "outputs": outputs}
    if call.type == "web_search":
        results = [{"title": f"About {call.query}", "url": _search_url(call.query), "snippet": _quote(call)}]
        return {"query": call.query, "outputs": orjson.dumps(results).decode() if done else ""}
    return {"query": call.query, "outputs": f"Document excerpt relevant to: {call.query}" if done else ""}


def _quote(call: BuiltinCall) -> str:
    return f"Top web result for {call.query}"


def reply_for(decision: Decision, user_text: str) -> Reply:
    """Reply text and annotations (indexes in characters of the full text) after `decision`'s tool ran."""
    if isinstance(decision, BuiltinCall) and decision.type == "web_search":
        text = f"{text_reply(user_text)} Source: {CITATION_MARKER} (web)."
        start = text.index(CITATION_MARKER)
        annotation = {
            "type": "web_citation",
            "text": CITATION_MARKER,
            "start_index": start,
            "end_index": start + len(CITATION_MARKER),
            "web_citation": {"url": _search_url(decision.query), "quote": _quote(decision)},
        }
        return Reply(text, (annotation,))
    return Reply(text_reply(user_text))
