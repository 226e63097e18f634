"""The `code` of a code_interpreter call, decoded while MiniMax streams the call's arguments.

MiniMax sends a tool call's arguments as pieces of one JSON object (`{"code": "import pandas..."}`), cut
anywhere, escapes included. OpenAI's stream shows the code itself growing (`code_interpreter.input`
deltas), so each piece's share of the `code` string is decoded as it arrives: `feed(piece)` returns the
text it completes, holding back only an escape sequence cut in half. Sans-IO; O(piece) per call.

Other members of the object are skipped (strings, numbers, nested values); a `code` that is not a string,
or arguments that are not a JSON object, are found by `finish()`, which checks the whole text with the
JSON parser and that the streamed text equals its `code` (`BadArguments` otherwise).
"""

from __future__ import annotations

import json
from typing import Final

_SIMPLE: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class BadArguments(ValueError):
    """The arguments are not `{"code": "<string>", ...}`."""


class CodeInput:
    """One call's arguments, piece by piece (see the module doc)."""

    __slots__ = (
        "_depth",
        "_done_key",
        "_escape",
        "_high",
        "_key",
        "_parts",
        "_shown",
        "_state",
        "_string",
        "_text",
    )

    def __init__(self) -> None:
        self._parts: list[str] = []  # the arguments' text, for `finish`
        self._depth = 0  # object/array nesting outside strings
        self._string = False  # inside a string (key or value)
        self._escape = ""  # an escape sequence begun in a string and not yet complete
        self._key: list[str] | None = None  # the top-level key being read, while it is
        self._done_key = ""  # the last top-level key read
        self._state = "key"  # at depth 1: "key", "colon", "value" (expecting), "code", "other"
        self._text: list[str] = []  # decoded code pieces shown so far
        self._shown = False  # the code string's closing quote was seen
        self._high = ""  # a UTF-16 high surrogate waiting for its low half

    def feed(self, piece: str) -> str:
        """The code text this piece completes ('' if none)."""
        self._parts.append(piece)
        out: list[str] = []
        for ch in piece:
            if self._string:
                self._in_string(ch, out)
            elif ch == '"':
                self._string = True
                if self._depth == 1 and self._state == "key":
                    self._key = []
                elif self._depth == 1 and self._state == "value":
                    if self._done_key == "code" and self._shown:
                        raise BadArguments('"code" is given twice in the arguments')
                    self._state = "code" if self._done_key == "code" else "other"
            elif ch in "{[":
                self._depth += 1
                if self._depth == 2 and self._state == "value":
                    self._state = "other"
            elif ch in "}]":
                self._depth -= 1
            elif self._depth == 1:
                if ch == ":" and self._state == "colon":
                    self._state = "value"
                elif ch == ",":
                    self._state = "key"
                elif not ch.isspace() and self._state == "value":
                    self._state = "other"  # a number, true, false or null
        text = "".join(out)
        if text:
            self._text.append(text)
        return text

    def _in_string(self, ch: str, out: list[str]) -> None:
        code = self._depth == 1 and self._state == "code"
        if self._escape:
            self._escape += ch
            decoded = self._decode_escape()
            if decoded is None:
                return
            self._escape = ""
            if code:
                out.append(decoded)
            elif self._key is not None:
                self._key.append(decoded)
            return
        if ch == "\\":
            self._escape = ch
        elif ch == '"':
            self._string = False
            if self._key is not None:
                self._done_key = "".join(self._key)
                self._key = None
                self._state = "colon"
            elif code:
                if self._high:  # a lone high surrogate ends the string: shown as the parser reads it
                    out.append(self._high)
                    self._high = ""
                self._shown = True
                self._state = "after"
        elif code:
            out.append(self._pair(ch))
        elif self._key is not None:
            self._key.append(ch)

    def _decode_escape(self) -> str | None:
        """The text of a complete escape (`\\n`, `\\u00e9`, a surrogate pair), None while it is not."""
        esc = self._escape
        if len(esc) < 2:
            return None
        if esc[1] in _SIMPLE:
            return self._pair(_SIMPLE[esc[1]])
        if esc[1] != "u":
            raise BadArguments(f"invalid escape {esc!r} in the arguments")
        if len(esc) < 6:
            return None
        try:
            unit = int(esc[2:6], 16)
        except ValueError:
            raise BadArguments(f"invalid escape {esc!r} in the arguments") from None
        return self._pair(chr(unit))

    def _pair(self, ch: str) -> str:
        """`ch`, joined with a held high surrogate when it is the low half of a pair."""
        if "\ud800" <= ch <= "\udbff":
            held, self._high = self._high, ch
            return held
        if self._high:
            high, self._high = self._high, ""
            if "\udc00" <= ch <= "\udfff":
                return (high + ch).encode("utf-16", "surrogatepass").decode("utf-16")
            return high + ch
        return ch

    def finish(self) -> str:
        """The whole code, once the arguments ended; `BadArguments` if they were not what they must be."""
        raw = "".join(self._parts)
        try:
            args = json.loads(raw)
        except ValueError:
            raise BadArguments("the arguments are not valid JSON") from None
        if not isinstance(args, dict) or not isinstance(args.get("code"), str):
            raise BadArguments('the arguments must be an object with a string "code"')
        code: str = args["code"]
        if "".join(self._text) != code:  # a decoder bug, never the model's: say so loudly
            raise AssertionError("the streamed code differs from the arguments' code")
        return code
