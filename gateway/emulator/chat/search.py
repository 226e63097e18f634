"""The emulator's model with a `file_search` function offered (as the gateway's engine offers it).

Asked something in a user message, it calls `file_search` with `{"queries": [<the user's text>]}`, as
well as any function tool the text names. Given the search's result (the tool message the gateway sends
back: results each headed by its marker, `【m:r†name】`, then the text), it answers by quoting the first
sentence of the best result and citing its marker; with no result, it says the files hold nothing on it.
When the user's question (the last user message) holds text in the shape of a marker (`【...】`), the
answer ends by repeating the first such text verbatim: `... You mentioned 【...】.` That is how a test
makes the model write a marker the search never gave out (a forged one, which must stay plain text).
Deterministic, so tests can check the citation the gateway makes of it.
"""

from __future__ import annotations

import re
from typing import Final

NAME: Final = "file_search"
_HEAD = re.compile(r"^(【[^】\n]*】)\n(.*?)(?:\n\n【|\Z)", re.S)
_MARKER_SHAPE = re.compile(r"【[^】\n]*】")
_SENTENCE = re.compile("[^.!?\u3002\uff01\uff1f\n]+[.!?\u3002\uff01\uff1f]?")  # ASCII and CJK stops


def offered(names: list[str]) -> bool:
    return NAME in names


def quote(output: str, question: str = "") -> str:
    """The reply to one file_search result: its best result quoted and cited, or that nothing was found;
    then the first marker-shaped text of `question` (the user's last message), if any, repeated."""
    head = _HEAD.match(output)
    if head is None:
        answer = "I found nothing about that in the files."
    else:
        marker, text = head.group(1), head.group(2).strip()
        first = _SENTENCE.search(text)
        sentence = first.group().strip() if first else text[:200]
        name = marker[1:-1].split("†", 1)[-1]
        answer = f"According to {name}: {sentence} {marker}"
    mentioned = _MARKER_SHAPE.search(question)
    return f"{answer} You mentioned {mentioned.group()}." if mentioned else answer
