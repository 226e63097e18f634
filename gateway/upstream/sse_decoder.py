"""Incremental SSE decoder for MiniMax's stream: bytes in (any split), `data` payloads out.

Follows the WHATWG event-stream rules that matter here (https://html.spec.whatwg.org/#event-stream-interpretation):
lines end in LF or CRLF; `data:` lines (one optional space after the colon) accumulate until a
blank line dispatches them joined by LF; `:` comments and other fields are ignored. One addition for
MiniMax: a line that starts with `{` is a payload on its own, because create_stream answers a
rejected request with a bare JSON body instead of SSE (docs/minimax-wire.md, "Stream framing").

Work per `feed()` is O(len(chunk)): only the new chunk is scanned (with memchr, so a long line
costs next to nothing until it ends), and a line split across reads is joined once, when its end
arrives. Payloads stay bytes (orjson parses bytes directly).
"""

from __future__ import annotations


class SSEDecoder:
    __slots__ = ("_data", "_partial")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # pieces of a line whose end has not arrived
        self._data: list[bytes] = []  # `data:` values of the event being read

    def feed(self, chunk: bytes) -> list[bytes]:
        """Decode one read; return the payloads of every event it completes."""
        find = chunk.find  # memchr: a long line costs almost nothing to scan (`split` walks every byte)
        end = find(b"\n")
        if end < 0:
            if chunk:
                self._partial.append(chunk)
            return []
        if (  # the read is one whole `data: X` LF LF event, as each of MiniMax's chunks comes at its pace
            end == len(chunk) - 2
            and chunk[-1] == 10
            and chunk[end - 1] != 13
            and not self._partial
            and not self._data
            and chunk.startswith(b"data: ")
        ):
            return [chunk[6:end]]
        out: list[bytes] = []
        start = 0
        if self._partial:  # the first line began in an earlier read: joined once, now that it ended
            self._partial.append(chunk[:end])
            line = b"".join(self._partial)
            self._partial = []
            self._line(line[:-1] if line.endswith(b"\r") else line, out)
            start = end + 1
            end = find(b"\n", start)
        startswith = chunk.startswith
        last = len(chunk) - 1
        while end >= 0:  # `_line()` inlined on slices of the read: this runs twice per frame
            stop = end - 1 if end > start and chunk[end - 1] == 13 else end  # CRLF
            if stop == start:
                if self._data:
                    data = self._data
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    self._data = []
            elif startswith(b"data: ", start):
                if end < last and chunk[end + 1] == 10 and not self._data:  # `data: X` LF LF: the event
                    out.append(chunk[start + 6 : stop])  # whole, as MiniMax sends each: one step
                    start = end + 2
                    end = find(b"\n", start)
                    continue
                self._data.append(chunk[start + 6 : stop])
            else:
                self._line(chunk[start:stop], out)
            start = end + 1
            end = find(b"\n", start)
        if start < len(chunk):
            self._partial.append(chunk[start:])
        return out

    def finish(self) -> list[bytes]:
        """The body ended: an unterminated last line and event still count."""
        out = self.feed(b"\n") if self._partial else []
        if self._data:
            out.append(b"\n".join(self._data))
            self._data = []
        return out

    def _line(self, line: bytes, out: list[bytes]) -> None:
        """One line without its line end (any line the loop above does not take itself)."""
        if not line:
            if self._data:
                out.append(b"\n".join(self._data))
                self._data = []
        elif line.startswith(b"data:"):
            self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"{"):
            out.append(line)
        # Comments (`:`), `event:`, `id:`, `retry:` and anything else carry nothing we use.
