"""Seeded re-cutting of a response body into writes of random sizes (`chunking: split`), and its checks.

Both emulated APIs use it, so a reader's handling of a frame, a line or a UTF-8 character split across
reads is exercised on either.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


class Splitter:
    """Re-cuts a byte stream into pieces of seeded random sizes (1..max_piece bytes).

    Cut positions depend only on the seed and the concatenated bytes, never on how they are fed: a
    piece may end mid-line or inside a multi-byte UTF-8 character (deliberately, often), and may join
    the end of one frame with the start of the next (the tail then waits for the next frame or `flush`).
    """

    def __init__(self, seed: int, max_piece: int = 48) -> None:
        self._rng = random.Random(seed)
        self._max = max_piece
        self._buf = bytearray()
        self._next = self._draw()

    def _draw(self) -> int:
        return self._rng.randint(1, self._max)

    def _size(self, piece: bytes) -> int:
        """Half the time, end a piece holding a multi-byte character just after its lead byte."""
        leads = [i for i, b in enumerate(piece) if b >= 0xC0]
        if leads and self._rng.random() < 0.5:
            return leads[0] + 1
        return len(piece)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= self._next:
            size = self._size(bytes(self._buf[: self._next]))
            out.append(bytes(self._buf[:size]))
            del self._buf[:size]
            self._next = self._draw()
        return out

    def flush(self) -> list[bytes]:
        out = [bytes(self._buf)] if self._buf else []
        self._buf.clear()
        return out


def split_plan(data: bytes, seed: int, max_piece: int = 48) -> list[bytes]:
    """The pieces a `Splitter(seed)` writes for `data` (pure; same cuts as the streaming splitter)."""
    splitter = Splitter(seed, max_piece)
    return splitter.feed(data) + splitter.flush()


def cut_offsets(pieces: Sequence[bytes]) -> list[int]:
    """Byte offsets of the boundaries between consecutive pieces."""
    offsets, total = [], 0
    for piece in pieces[:-1]:
        total += len(piece)
        offsets.append(total)
    return offsets


def cuts_inside_characters(data: bytes, offsets: Sequence[int]) -> list[int]:
    """The offsets that fall inside a multi-byte UTF-8 character (next byte is a continuation byte)."""
    return [o for o in offsets if 0 < o < len(data) and data[o] & 0xC0 == 0x80]
