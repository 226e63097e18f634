"""A streamed response's body pieces written to uvicorn in a plain call instead of an ASGI message.

An event stream writes one body message per upstream read. Through the server's `send` each is a
message dict, a coroutine and their frames on the way to one `transport.write`. For uvicorn's httptools
protocol (the server the gateway runs, see `request_deadlines`), `plain_writer(send)` gives a function
that writes a piece at once, framed as `send` frames it, whenever `send` would write it without waiting:
the response has started with chunked encoding and is not finished, the client is still there, and the
transport's flow control has not paused writing. Otherwise it writes nothing and returns False, and the
caller sends the piece through `send` as before (which waits for the transport to drain, or drops the
piece for a client that left). Any other server's `send`, or a HEAD request: no plain writer.

It reads the request cycle's state that uvicorn's own `send` reads (`RequestResponseCycle.send`);
`tests/test_body_writes.py` holds it to the bytes `send` puts on the wire. Measured in
tests/bench/README.md ("Measurements behind the design").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

PlainWrite = Callable[[bytes], bool]
"""Writes a body piece that is not the response's last, at once: True; False: nothing written."""


def plain_writer(send: Any) -> PlainWrite | None:
    """A plain writer for the response that `send` (the server's own) belongs to, if it is uvicorn's
    httptools `send`; else None."""
    cycle = getattr(send, "__self__", None)
    if type(cycle) is not RequestResponseCycle or cycle.scope["method"] == "HEAD":
        return None
    return functools.partial(_write, cycle)


def _write(cycle: RequestResponseCycle, piece: bytes) -> bool:
    if (
        cycle.flow.write_paused
        or cycle.disconnected
        or cycle.response_complete
        or cycle.chunked_encoding is not True  # also None: the response has not started
    ):
        return False
    if piece:
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(piece), piece))
    return True
