"""Read everything an aiohttp response body has buffered in one piece, without its per-chunk upkeep.

aiohttp keeps a chunked body as one buffer entry per HTTP chunk, and `StreamReader.readany()` takes
them one by one, asking the protocol to resume reading after each (a parser call and a timer
reschedule per entry). MiniMax sends every SSE event as an HTTP chunk of its own, so that upkeep is
paid per chunk, by both backends (measured: tests/bench/README.md, "Measurements behind the design").
`while waiting(r): await wait(r)`, then `take(r)` (as `SSEBody` reads) does what `readany()` does, for
the whole buffer at once: the same bytes, the same flow control (one resume check at the end instead
of one per entry, and a resume only when reading was paused: aiohttp's `resume_reading` feeds its
parser an empty piece and asks the transport to resume even when nothing was paused, which at one
SSE event per read doubled the protocol's work per event), the same errors and timeouts.

It uses `StreamReader`'s internals as aiohttp 3.14 has them (the version it was written and tested
against). `fits(reader)` checks the class
has exactly those slots; where it does not (another aiohttp), `SSEBody` uses `readany()`. A test
checks the installed aiohttp fits, so an upgrade that changes them fails there, not silently here.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Final, cast

from aiohttp import StreamReader

USED: Final = (
    "_exception",
    "_buffer",
    "_buffer_offset",
    "_eof",
    "_wait",
    "_timer",
    "_size",
    "_cursor",
    "_http_chunk_splits",
    "_low_water",
    "_low_water_chunks",
    "_protocol",
)


PROTOCOL_USED: Final = ("_reading_paused", "_buffer_paused")  # its protocol's (ResponseHandler) flow state


def fits(reader: Any) -> bool:
    """Whether `reader` is an aiohttp `StreamReader` with the internals used here."""
    return (
        type(reader) is StreamReader
        and all(hasattr(StreamReader, name) for name in USED)
        and all(hasattr(reader._protocol, name) for name in PROTOCOL_USED)
    )


def waiting(reader: StreamReader) -> bool:
    """Whether there is nothing to take yet (then `await wait(reader)` first); raises what broke the body."""
    r: Any = reader
    if r._exception is not None:
        raise r._exception
    return not r._buffer and not r._eof


def wait(reader: StreamReader) -> Awaitable[None]:
    """Until something comes (or the end, or an error, or the read timeout), as `readany()` waits."""
    waited: Awaitable[None] = cast(Any, reader)._wait("readany")
    return waited


def take(reader: StreamReader) -> bytes:
    """Everything buffered now, as one bytes (b"" at the end)."""
    r: Any = reader
    r._timer.assert_timeout()
    buffer = r._buffer
    if not buffer:
        return b""
    take = buffer.popleft  # not clear(): a deque cleared keeps a spare block (~0.5 KB per idle stream)
    parts = [take() for _ in range(len(buffer))]
    if r._buffer_offset:  # a read of a given size took part of the first entry
        parts[0] = parts[0][r._buffer_offset :]
        r._buffer_offset = 0
    data: bytes = parts[0] if len(parts) == 1 else b"".join(parts)
    r._size -= len(data)
    r._cursor += len(data)
    splits = r._http_chunk_splits
    while splits and splits[0] < r._cursor:  # chunk ends already read: dropped, as readany does
        splits.popleft()
    if r._size < r._low_water and (splits is None or len(splits) < r._low_water_chunks):
        protocol = r._protocol
        if protocol._reading_paused or protocol._buffer_paused:  # else there is nothing to resume, and
            protocol.resume_reading()  # aiohttp would feed its parser an empty piece on every read
    return data
