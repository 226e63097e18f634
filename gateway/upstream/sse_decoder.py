"""Incremental SSE decoder for MiniMax's stream: bytes in (any split), `data` payloads out.

Follows the WHATWG event-stream rules that matter here (https://html.spec.whatwg.org/#event-stream-interpretation):
lines end in LF or CRLF; `data:` lines (one optional space after the colon) accumulate until a
blank line dispatches them joined by LF; `:` comments and other fields are ignored. One addition for
MiniMax: a line that starts with `{` is a payload on its own, because create_stream answers a
rejected request with a bare JSON body instead of SSE (wire note §3.6).

Work per `feed()` is O(len(chunk)): only the new chunk is scanned, and a line split across reads is
joined once when its end arrives. Payloads stay bytes (orjson parses bytes directly).
"""

from __future__ import annotations


class SSEDecoder:
    __slots__ = ("_data", "_partial")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # pieces of a line whose end has not arrived
        self._data: list[bytes] = []  # `data:` values of the event being read

    def feed(self, chunk: bytes) -> list[bytes]:
        """Decode one read; return the payloads of every event it completes."""
        out: list[bytes] = []
        start = 0
        find = chunk.find
        while (end := find(b"\n", start)) >= 0:
            line = chunk[start:end]
            if self._partial:
                self._partial.append(line)
                line = b"".join(self._partial)
                self._partial = []
            self._line(line, out)
            start = end + 1
        if start < len(chunk):
            self._partial.append(chunk[start:])
        return out

    def finish(self) -> list[bytes]:
        """The body ended: an unterminated last line and event still count."""
        out: list[bytes] = []
        if self._partial:
            line = b"".join(self._partial)
            self._partial = []
            self._line(line, out)
        if self._data:
            out.append(b"\n".join(self._data))
            self._data = []
        return out

    def _line(self, line: bytes, out: list[bytes]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            if self._data:
                out.append(self._data[0] if len(self._data) == 1 else b"\n".join(self._data))
                self._data = []
        elif line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"{"):
            out.append(line)
        # Comments (`:`), `event:`, `id:`, `retry:` and anything else carry nothing we use.
