"""SSE frame bytes per dialect (base_resp style, line ending) and seeded splitting of the byte stream."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.emulator.config import BaseRespStyle, LineEnding

MALFORMED_PAYLOAD = b'{"data": {"object": "message", "content": [{"text": '


class FrameEncoder:
    """`data: <one-line JSON>` + blank line; envelope `{"data": ..., "base_resp": ...}`."""

    def __init__(self, style: BaseRespStyle = "status_code", line_ending: LineEnding = "\n") -> None:
        self.style = style
        self._end = line_ending.encode()

    def _line(self, payload: bytes) -> bytes:
        return b"data: " + payload + self._end + self._end

    def ok_resp(self, *, final: bool) -> dict[str, Any]:
        if self.style == "status_code":
            return {"status_code": 0, "status_msg": "success"} if final else {}
        if self.style == "code":
            return {"code": 0, "message": "success" if final else ""}
        return {}

    def error_resp(self, code: int, message: str) -> dict[str, Any]:
        if self.style == "code":
            return {"code": code, "message": message}
        return {"status_code": code, "status_msg": message}

    def frame(self, data: dict[str, Any], *, final: bool) -> bytes:
        return self._line(orjson.dumps({"data": data, "base_resp": self.ok_resp(final=final)}))

    def error(self, code: int, message: str) -> bytes:
        """A failure frame: no `data`, a non-zero code in the style's keys."""
        return self._line(orjson.dumps({"base_resp": self.error_resp(code, message)}))

    def malformed(self) -> bytes:
        """A frame whose data line is not valid JSON (truncated object)."""
        return self._line(MALFORMED_PAYLOAD)


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
