"""File citations in a streamed answer: OpenAI's markers (`【{message}:{result}†{file name}】`) found in the
text as it streams, each one the run's search gave out becoming a `file_citation` annotation; and links to
files code wrote (`sandbox:/mnt/data/NAME`, code_interpreter's), each becoming a `file_path` annotation.

Sans-IO: `feed(piece)` takes answer text as it arrives and returns what may be shown now, as pieces of
text, each with the annotations that it completes. Text after a `【` is held back until its `】` (or
until it can no longer be a marker: too long, or a line break), and a link, or what may begin one, until
its name ends, so that a marker or link split across chunks is still found whole; everything else passes
through at once. The pieces put together are exactly the text fed (markers and links stay in the text, as
OpenAI left them), so a client's text rebuilt from deltas equals the stored message. A marker the search
did not give out (one the model made up), or a link to a file code did not write, stays plain text.

Annotation offsets are `start_index`/`end_index` in characters of the message's text value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

OPEN: Final = "【"
CLOSE: Final = "】"
MAX_MARKER: Final = 300  # characters: a marker names a file, so it is short; past this it is text
SANDBOX: Final = "sandbox:/mnt/data/"  # how an answer links a file code wrote (OpenAI's `file_path`)
LINK_END: Final = frozenset(")]\"'<>`【")  # what ends a link's file name (besides white space)
TRAILING: Final = ".,;:!?"  # the sentence's punctuation after a link, not part of the name


def marker(message: int, result: int, filename: str) -> str:
    """The marker a search result is labelled with when it is sent to the model."""
    return f"{OPEN}{message}:{result}†{filename}{CLOSE}"


Piece = tuple[str, list[dict[str, Any]]]


class Citations:
    """One message's citation scanner. `markers` maps each marker given out to its file id; `paths` each
    file code wrote (its name in /mnt/data) to its File id, for `sandbox:/mnt/data/NAME` links."""

    __slots__ = ("_held", "_markers", "_offset", "_paths")

    def __init__(self, markers: Mapping[str, str], paths: Mapping[str, str] | None = None) -> None:
        self._markers = dict(markers)
        self._paths = dict(paths or {})
        self._held = ""  # text from a `【` (or a link) whose end is not settled yet
        self._offset = 0  # characters of the message's text shown so far

    def feed(self, piece: str) -> list[Piece]:
        """What can be shown of the text so far, in order (often `[(piece, [])]`)."""
        if not self._held and OPEN not in piece and not (self._paths and _may_link(piece)):
            self._offset += len(piece)  # the usual chunk: no scan beyond `in`
            return [(piece, [])] if piece else []
        return self._scan(piece, final=False)

    def finish(self) -> list[Piece]:
        """The reply ended: what is still held back is settled (a link may end with the text)."""
        return self._scan("", final=True) if self._held else []

    def _scan(self, piece: str, final: bool) -> list[Piece]:
        text, self._held = self._held + piece, ""
        out: list[Piece] = []
        plain_from = 0
        at = self._next(text, 0)
        while at >= 0:
            if text.startswith(SANDBOX, at):
                end = _link_end(text, at + len(SANDBOX))
                if end < 0 and final:
                    end = len(text)
                elif end < 0:
                    if len(text) - at <= MAX_MARKER:
                        self._held = text[at:]  # the link may go on in the next piece
                        text = text[:at]
                        break
                    at = self._next(text, at + 1)
                    continue
                found, file_id, kind = self._link(text[at:end])
            else:
                end = text.find(CLOSE, at + 1)
                if end < 0:
                    tail = text[at:]
                    if len(tail) <= MAX_MARKER and "\n" not in tail and not final:
                        self._held = tail  # may still become a marker
                        text = text[:at]
                        break
                    at = self._next(text, at + 1)  # this one cannot; a later `【` still may
                    continue
                found = text[at : end + 1]
                file_id = self._markers.get(found) if "\n" not in found else None
                kind = "file_citation"
            if file_id is None:
                at = self._next(text, at + 1)
                continue
            if at > plain_from:
                out.append(self._show(text[plain_from:at], []))
            start = self._offset
            annotation = {
                "type": kind,
                "text": found,
                "start_index": start,
                "end_index": start + len(found),
                kind: {"file_id": file_id},
            }
            out.append(self._show(found, [annotation]))
            plain_from = at + len(found)
            at = self._next(text, plain_from)
        if not self._held and self._paths and plain_from < len(text) and not final:
            cut = _partial_link(text, plain_from)  # `...sand`: may begin a link in the next piece
            self._held, text = text[cut:], text[:cut]
        if plain_from < len(text):
            out.append(self._show(text[plain_from:], []))
        return out

    def _next(self, text: str, start: int) -> int:
        """Where the next marker or link may begin in `text` from `start` (-1: nowhere)."""
        mark = text.find(OPEN, start)
        if not self._paths:
            return mark
        link = text.find(SANDBOX, start)
        if mark < 0 or (0 <= link < mark):
            return link
        return mark

    def _link(self, candidate: str) -> tuple[str, str | None, str]:
        """The link `candidate` (`sandbox:/mnt/data/...` up to a delimiter) as far as it names a file
        code wrote: trailing punctuation of the sentence is not part of the name."""
        while True:
            file_id = self._paths.get(candidate[len(SANDBOX) :])
            if file_id is not None or not candidate or candidate[-1] not in TRAILING:
                return candidate, file_id, "file_path"
            candidate = candidate[:-1]

    def _show(self, text: str, annotations: list[dict[str, Any]]) -> Piece:
        self._offset += len(text)
        return text, annotations


def _may_link(piece: str) -> bool:
    return SANDBOX in piece or _partial_link(piece, 0) < len(piece)


def _partial_link(text: str, start: int) -> int:
    """Where a trailing beginning of `SANDBOX` starts in `text[start:]` (`len(text)`: none)."""
    for size in range(min(len(SANDBOX) - 1, len(text) - start), 0, -1):
        if text.endswith(SANDBOX[:size]):
            return len(text) - size
    return len(text)


def _link_end(text: str, start: int) -> int:
    """The end of a link's name begun at `start` (the first delimiter), -1 if the text ends first."""
    for i in range(start, len(text)):
        if text[i] in LINK_END or text[i].isspace():
            return i
    return -1
