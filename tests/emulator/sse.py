"""Reading the emulator's SSE bodies strictly: every line is `data:` or blank, and the body ends between
events."""

from __future__ import annotations


def parse_sse(body: bytes) -> list[bytes]:
    """Data payloads of an SSE byte stream (any line ending; multi-line data joined with \\n)."""
    events: list[bytes] = []
    data: list[bytes] = []
    for line in body.replace(b"\r\n", b"\n").split(b"\n"):
        if line == b"":
            if data:
                events.append(b"\n".join(data))
                data = []
        elif line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
        else:
            raise AssertionError(f"unexpected SSE line {line!r}")
    assert not data, "stream ended inside an event"
    return events
