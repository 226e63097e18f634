"""Assistants SSE frame bytes per dialect: base_resp style and line ending (docs/minimax-wire.md,
"Stream framing"). Re-cutting the bytes into writes is `gateway.emulator.splitter`'s."""

from __future__ import annotations

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
