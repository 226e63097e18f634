"""Incremental SSE decoder for MiniMax's stream: bytes in (any split), `data` payloads out.

Follows the WHATWG event-stream rules that matter here (https://html.spec.whatwg.org/#event-stream-interpretation):
lines end in LF or CRLF; `data:` lines (one optional space after the colon) accumulate until a
blank line dispatches them joined by LF; `:` comments and other fields are ignored. One addition for
MiniMax: a line that starts with `{` is a payload on its own, because create_stream answers a
rejected request with a bare JSON body instead of SSE (wire note §3.6).

Work per `feed()` is O(len(chunk)): only the new chunk is scanned (split in C), and a line split
across reads is joined once when its end arrives. Payloads stay bytes (orjson parses bytes directly).
"""

from __future__ import annotations


class SSEDecoder:
    __slots__ = ("_data", "_partial")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # pieces of a line whose end has not arrived
        self._data: list[bytes] = []  # `data:` values of the event being read

    def feed(self, chunk: bytes) -> list[bytes]:
        """Decode one read; return the payloads of every event it completes."""
        if b"\n" not in chunk:
            if chunk:
                self._partial.append(chunk)
            return []
        lines = chunk.split(b"\n")  # one C-level pass; the last item is the unterminated rest
        rest = lines.pop()
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
            self._partial = []
        if rest:
            self._partial.append(rest)
        out: list[bytes] = []
        data = self._data
        for line in lines:  # inlined `_line()`: this loop runs twice per frame of every stream
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data = self._data = []
            elif line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"{"):
                out.append(line)
        return out

    def finish(self) -> list[bytes]:
        """The body ended: an unterminated last line and event still count."""
        out = self.feed(b"\n") if self._partial else []
        if self._data:
            out.append(b"\n".join(self._data))
            self._data = []
        return out
