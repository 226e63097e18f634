"""The deterministic model's words, the same on both emulated APIs: the reply to a plain user message,
the reply after a function tool's output, and a function call's arguments taken from the user's text.

The Assistants model (`assistants.model`) and the chat model (`chat.model`) decide when to say which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

TRAILING = " \t\r\n.,!?;:\u3002\uff0c\uff01\uff1f\uff1b\uff1a"  # ASCII and CJK punctuation
_LEAD_WORD = re.compile(r"^(?:for|with|on)\s+", re.IGNORECASE)


def text_reply(user_text: str) -> str:
    """The exact reply streamed for a plain user message (multi-byte: CJK, emoji beyond the BMP, accents)."""
    return (
        f"You said: {user_text}. 你好，世界 🌍 — café, naïve. "  # noqa: RUF001
        "This deterministic reply comes from the MiniMax emulator; ¡olé! 👋 Ende."
    )


def tool_result_reply(name: str, output: str) -> str:
    """The reply after a function tool's output was submitted."""
    return f"The result of {name} is: {output}"


def text_after(text: str, end: int) -> str:
    rest = _LEAD_WORD.sub("", text[end:].strip())
    return rest.rstrip(TRAILING)


def _first_property(parameters: Any) -> str:
    if isinstance(parameters, str):  # some callers send the JSON schema as a string
        try:
            parameters = orjson.loads(parameters)
        except orjson.JSONDecodeError:
            return "input"
    props = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if isinstance(props, Mapping) and props:
        return str(next(iter(props)))
    return "input"


def function_arguments(user_text: str, name_end: int, parameters: Any) -> str:
    """`{"<first property or input>": "<text after the tool name, minus for/with/on and punctuation>"}`."""
    return orjson.dumps({_first_property(parameters): text_after(user_text, name_end)}).decode()
