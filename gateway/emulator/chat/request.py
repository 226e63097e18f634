"""Chat-completions request validation (MiniMax's rules, every problem a 2013) into a ChatRequest; the
models are those of (docs/minimax-chat.md, "Models").

A user message's content may be a list of text and `image_url` parts (OpenAI's chat shape); images are
taken by the vision model only (`chat.vision.VISION_MODELS`): another model answers 2013."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.emulator.chat.faults import ChatFaults, split_faults
from gateway.emulator.chat.vision import VISION_MODELS, url_is_valid
from gateway.emulator.status_codes import invalid

CHAT_MODELS = (
    "MiniMax-M3",
    "MiniMax-M2.7",
    "MiniMax-M2.7-highspeed",
    "MiniMax-M2.5",
    "MiniMax-M2.5-highspeed",
    "MiniMax-M2.1",
    "MiniMax-M2.1-highspeed",
    "MiniMax-M2",
)
ROLES = frozenset({"system", "user", "assistant", "tool"})
TOOL_CHOICES = frozenset({"none", "auto"})


@dataclass(frozen=True)
class ChatTool:
    name: str
    parameters: Any  # the function's JSON schema as sent (an object, a JSON string, or None)


@dataclass(frozen=True)
class ToolResult:
    name: str  # the function name of the call that the tool message answers
    output: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    stream: bool
    reasoning_split: bool
    max_tokens: int | None  # max_completion_tokens, else the deprecated max_tokens
    tools: tuple[ChatTool, ...]  # function tools, in request order
    tool_choice: str
    last_role: str
    user_text: str  # the last user message's text without fault markers ("" when there is none)
    system_text: str  # the system messages' texts, joined by newlines (what `chat.code` reads files from)
    images: tuple[str, ...]  # the last user message's image URLs, in order
    tool_results: tuple[ToolResult, ...]  # the trailing tool messages, in order
    prompt_chars: int  # characters of all message contents, as sent
    faults: ChatFaults

    @property
    def prompt_tokens(self) -> int:
        return math.ceil(self.prompt_chars / 4)


def content_parts(content: Any, where: str, role: str) -> tuple[str, tuple[str, ...]]:
    """A message content (a string, a list of parts, or null): its text and, for a user message, the
    URLs of its `image_url` parts."""
    if content is None or isinstance(content, str):
        return content or "", ()
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or a list of parts")
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and role == "user":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url_is_valid(url):
                raise invalid(
                    f"{where}.content[{j}].image_url.url must be an http(s) URL or a base64 data URL"
                )
            images.append(url)
        else:
            allowed = "text or image_url parts" if role == "user" else "text parts"
            raise invalid(f"{where}.content parts must be {allowed}")
    return "".join(texts), tuple(images)


def _unit_interval(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise invalid(f"{name} must be in (0, 1], not {value!r}")


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{name} must be a boolean")
    return value


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"{name} must be an integer >= 1")
        return value
    return None


def _tools(body: dict[str, Any]) -> tuple[ChatTool, ...]:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("tools must be a list")
    found = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not (isinstance(tool, dict) and tool.get("type") == "function" and isinstance(fn, dict)):
            raise invalid(f"tools[{i}] must be a function tool")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise invalid(f"tools[{i}].function.name is required")
        found.append(ChatTool(fn["name"], fn.get("parameters")))
    return tuple(found)


def _called(message: dict[str, Any], where: str) -> dict[str, str]:
    """Call id to function name; a call with an id needs a name, since the tool message answering it
    is replied to by that name."""
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise invalid(f"{where}.tool_calls must be a list of objects")
    called = {}
    for j, call in enumerate(calls):
        if not isinstance(call.get("id"), str):
            continue
        fn = call.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise invalid(f"{where}.tool_calls[{j}].function.name is required")
        called[call["id"]] = name
    return called


def _messages(raw: Any) -> tuple[list[dict[str, Any]], list[str], list[str | None], list[tuple[str, ...]]]:
    """The messages, their texts, for each tool message the name of the call it answers (a call of the
    assistant message before it, None for the other messages), and each message's image URLs."""
    if not isinstance(raw, list) or not raw:
        raise invalid("messages must be a non-empty list")
    texts: list[str] = []
    names: list[str | None] = []
    images: list[tuple[str, ...]] = []
    answerable: dict[str, str] | None = None  # id -> name of the latest assistant calls, while tools follow
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise invalid(f"{where}.role must be one of {sorted(ROLES)}")
        role = message["role"]
        text, urls = content_parts(message.get("content"), where, role)
        texts.append(text)
        images.append(urls)
        names.append(None)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if answerable is None or not isinstance(call_id, str) or call_id not in answerable:
                raise invalid(
                    f"{where}: tool_call_id {call_id!r} answers no call of the preceding assistant message"
                )
            names[-1] = answerable[call_id]
        elif role == "assistant":
            answerable = _called(message, where)
        else:
            answerable = None
    return raw, texts, names, images


def _last_user(
    messages: Sequence[dict[str, Any]], texts: Sequence[str], images: Sequence[tuple[str, ...]]
) -> tuple[str, tuple[str, ...]]:
    for message, text, urls in zip(reversed(messages), reversed(texts), reversed(images), strict=True):
        if message["role"] == "user":
            return text, urls
    return "", ()


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise invalid("body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required")
    if model not in CHAT_MODELS:
        raise invalid(f"unknown model: {model}")
    messages, texts, names, images = _messages(body.get("messages"))
    if model not in VISION_MODELS and any(images):
        raise invalid(f"model {model} does not support image input")
    _unit_interval(body, "temperature")
    _unit_interval(body, "top_p")
    tool_choice = body.get("tool_choice", "auto")
    if tool_choice is None:
        tool_choice = "auto"
    if not isinstance(tool_choice, str) or tool_choice not in TOOL_CHOICES:
        raise invalid(f"tool_choice must be one of {sorted(TOOL_CHOICES)}")
    trailing: list[ToolResult] = []
    for name, text in zip(reversed(names), reversed(texts), strict=True):
        if name is None:
            break
        trailing.insert(0, ToolResult(name, text))
    last_text, last_images = _last_user(messages, texts, images)
    user_text, faults = split_faults(last_text)
    return ChatRequest(
        model=model,
        stream=_flag(body, "stream"),
        reasoning_split=_flag(body, "reasoning_split"),
        max_tokens=_max_tokens(body),
        tools=_tools(body),
        tool_choice=tool_choice,
        last_role=messages[-1]["role"],
        user_text=user_text,
        system_text="\n".join(t for m, t in zip(messages, texts, strict=True) if m["role"] == "system"),
        images=last_images,
        tool_results=tuple(trailing),
        prompt_chars=sum(len(t) for t in texts),
        faults=faults,
    )
