"""File citations in a streamed answer: OpenAI's markers (`【{message}:{result}†{file name}】`) found in the
text as it streams, each one the run's search gave out becoming a `file_citation` annotation.

Sans-IO: `feed(piece)` takes answer text as it arrives and returns what may be shown now, as pieces of
text, each with the annotations that it completes. Text after a `【` is held back until its `】` (or
until it can no longer be a marker: too long, or a line break), so that a marker split across chunks is
still found whole; everything else passes through at once. The pieces put together are exactly the text
fed (markers stay in the text, as OpenAI left them), so a client's text rebuilt from deltas equals the
stored message. A marker the search did not give out (one the model made up) stays plain text.

Annotation offsets are `start_index`/`end_index` in characters of the message's text value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

OPEN: Final = "【"
CLOSE: Final = "】"
MAX_MARKER: Final = 300  # characters: a marker names a file, so it is short; past this it is text


def marker(message: int, result: int, filename: str) -> str:
    """The marker a search result is labelled with when it is sent to the model."""
    return f"{OPEN}{message}:{result}†{filename}{CLOSE}"


Piece = tuple[str, list[dict[str, Any]]]


class Citations:
    """One message's citation scanner. `markers` maps each marker given out to its file id."""

    __slots__ = ("_held", "_markers", "_offset")

    def __init__(self, markers: Mapping[str, str]) -> None:
        self._markers = dict(markers)
        self._held = ""  # text from a `【` whose marker is not settled yet
        self._offset = 0  # characters of the message's text shown so far

    def feed(self, piece: str) -> list[Piece]:
        """What can be shown of the text so far, in order (often `[(piece, [])]`)."""
        if not self._held and OPEN not in piece:  # the usual chunk: no scan beyond `in`
            self._offset += len(piece)
            return [(piece, [])] if piece else []
        text, self._held = self._held + piece, ""
        out: list[Piece] = []
        plain_from = 0
        at = text.find(OPEN)
        while at >= 0:
            end = text.find(CLOSE, at + 1)
            if end < 0:
                tail = text[at:]
                if len(tail) <= MAX_MARKER and "\n" not in tail:
                    self._held = tail  # may still become a marker
                    text = text[:at]
                    break
                at = text.find(OPEN, at + 1)  # this one cannot; a later `【` still may
                continue
            found = text[at : end + 1]
            file_id = self._markers.get(found)
            if file_id is not None and "\n" not in found:
                if at > plain_from:
                    out.append(self._show(text[plain_from:at], []))
                start = self._offset
                annotation = {
                    "type": "file_citation",
                    "text": found,
                    "start_index": start,
                    "end_index": start + len(found),
                    "file_citation": {"file_id": file_id},
                }
                out.append(self._show(found, [annotation]))
                plain_from = end + 1
            at = text.find(OPEN, end + 1 if file_id is not None else at + 1)
        if plain_from < len(text):
            out.append(self._show(text[plain_from:], []))
        return out

    def finish(self) -> list[Piece]:
        """The reply ended: text still held back was no marker."""
        held, self._held = self._held, ""
        return [self._show(held, [])] if held else []

    def _show(self, text: str, annotations: list[dict[str, Any]]) -> Piece:
        self._offset += len(text)
        return text, annotations
