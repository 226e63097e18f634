"""Turn MiniMax's successive text values (pieces or running totals) into exact appended deltas.

MiniMax's stream semantics are not public (docs/minimax-wire.md, "Message text: cumulative or incremental"): a
`message` frame's `text.value` may be the new piece (incremental), the whole text so far (cumulative), or
pieces followed by one final full snapshot. `TextAccumulator` takes each value as it comes and returns only
what is new, so the concatenated deltas always equal the accumulated text, whatever the dialect.

Detection, per accumulator (one per content item or tool-call argument string):
- The first value is new text under every reading.
- A value that does not start with the text so far locks the *incremental* reading.
- A value that strictly extends the text so far is ambiguous once (an incremental piece could start
  with the text so far), so it is held back until the next value decides: if that one extends the
  held value too, the stream is *cumulative*; otherwise the held value was an incremental piece.
- A value equal to the whole text so far is a duplicate or a final snapshot under every reading but
  the incremental one with a piece that happens to repeat the text; it is held until a different
  value (then it was a piece) or the end (then it was a snapshot, and is dropped). Further copies of
  the same value are read as repeated snapshots.
Held values cost one frame of latency, once per ambiguity; nothing is lost or doubled.

Cost is O(len(value)) per call: in incremental mode the text is kept as a list of pieces and only
joined when a value of exactly the same length must be compared with it; in cumulative mode the
latest total is kept as the text, so nothing is joined.
"""

from __future__ import annotations

from enum import StrEnum


class TextMode(StrEnum):
    """How values relate; `AUTO` detects, the others are forced by configuration."""

    AUTO = "auto"
    INCREMENTAL = "incremental"
    CUMULATIVE = "cumulative"


_UNKNOWN, _INCREMENTAL, _CUMULATIVE = 0, 1, 2


class TextAccumulator:
    """Accumulates one text stream; `push(value)` and `finish()` return the text to append."""

    __slots__ = ("_forced", "_held_equal", "_held_ext", "_length", "_mode", "_pieces")

    def __init__(self, mode: TextMode = TextMode.AUTO) -> None:
        self._mode = {TextMode.AUTO: _UNKNOWN, TextMode.INCREMENTAL: _INCREMENTAL}.get(mode, _CUMULATIVE)
        self._forced = mode is not TextMode.AUTO
        self._pieces: list[str] = []  # the text so far, as appended pieces
        self._length = 0
        self._held_ext: str | None = None  # a value that extends the text, reading undecided
        self._held_equal: str | None = None  # a value equal to the text: a snapshot or a piece

    @property
    def text(self) -> str:
        """The accumulated text (joins the pieces once; O(length))."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    def __len__(self) -> int:
        return self._length

    def push(self, value: str) -> str:
        """Take the next value from upstream; return the text newly appended ("" if none yet)."""
        if (
            self._mode == _INCREMENTAL
            and value
            and self._held_equal is None
            and (len(value) != self._length or self._forced)
        ):  # the common case, inlined: a piece of an incremental stream
            self._pieces.append(value)
            self._length += len(value)
            return value
        if self._held_ext is None and self._held_equal is None:  # `push_general`'s first case, inlined
            return self._take(value)  # (every value of a cumulative stream: one call less)
        return self.push_general(value)

    def push_general(self, value: str) -> str:
        """`push` without its fast append: every value read through `_take` / `_resolve_held`.
        `push` takes it for every value the fast append leaves; the fast-path tests and bench push
        whole streams through it to compare."""
        if self._held_ext is None and self._held_equal is None:
            return self._take(value)
        if value == self._held_equal:
            return ""  # the same whole text again: repeated snapshots, keep holding one
        out = self._resolve_held(value)
        return out + self._take(value)

    def finish(self) -> str:
        """The values ended: settle anything held back and return what that appends."""
        out = ""
        if self._held_ext is not None:
            # One extension, then the end: the cumulative reading is the likelier one.
            out = self._advance_to(self._held_ext)
            self._held_ext = None
        self._held_equal = None  # a trailing copy of the whole text is a final snapshot
        return out

    def _append(self, piece: str) -> str:
        if piece:
            self._pieces.append(piece)
            self._length += len(piece)
        return piece

    def _advance_to(self, total: str) -> str:
        """`total` extends the text: it becomes the text (kept whole, never re-joined from pieces,
        so a cumulative stream costs one comparison per value); returns what it adds."""
        piece = total[self._length :]
        self._pieces = [total]
        self._length = len(total)
        return piece

    def _extends(self, value: str) -> bool:
        return len(value) > self._length and value.startswith(self.text)

    def _resolve_held(self, value: str) -> str:
        """A new value arrived: decide how to read what was held back."""
        out = ""
        if self._held_ext is not None:
            held, self._held_ext = self._held_ext, None
            if value.startswith(held):
                self._mode = _CUMULATIVE
                out = self._advance_to(held)
            else:
                self._mode = _INCREMENTAL
                out = self._append(held)
        if self._held_equal is not None:
            held, self._held_equal = self._held_equal, None
            # A repeated running total is followed by a longer total; a repeated piece is not.
            if self._mode == _CUMULATIVE or (self._mode == _UNKNOWN and self._extends(value)):
                return out
            self._mode = _INCREMENTAL
            out += self._append(held)
        return out

    def _take(self, value: str) -> str:
        if not value:
            return ""
        n = self._length
        if self._mode == _INCREMENTAL:
            if not self._forced and len(value) == n and value == self.text:
                self._held_equal = value
                return ""
            return self._append(value)
        if self._mode == _CUMULATIVE:
            if self._extends(value):
                return self._advance_to(value)
            if self._forced or (len(value) <= n and self.text.startswith(value)):
                return ""  # a repeat or a stale, shorter total: nothing new
            # Not a running total after all: never retract what was sent, read it as a piece.
            self._mode = _INCREMENTAL
            return self._append(value)
        # Undecided.
        if n == 0:
            return self._append(value)
        if self._extends(value):
            self._held_ext = value
            return ""
        if len(value) == n and value == self.text:
            self._held_equal = value
            return ""
        self._mode = _INCREMENTAL
        return self._append(value)
