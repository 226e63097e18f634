"""A streamed upstream response read as SSE `data` payloads, one batch per read.

Each `next_payloads()` takes everything the connection has received since the last (`h1.Response.take`),
so a busy stream is decoded, translated and written in a few large batches instead of many small ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from gateway.upstream.errors import transport_error
from gateway.upstream.h1 import Response, StreamFailure
from gateway.upstream.sse_decoder import SSEDecoder


class SSEBody:
    """`next_payloads()` gives each read's payloads; `close()` frees the connection."""

    __slots__ = ("_decoder", "_response", "ended")

    def __init__(self, response: Response) -> None:
        self._response = response
        self._decoder = SSEDecoder()
        self.ended = False  # the body ended cleanly

    async def next_payloads(self) -> list[bytes] | None:
        """The payloads of the next read (maybe none); None once the body ended. A broken
        connection or a silence past the read timeout raises `GatewayError`: a cut never looks like
        an end."""
        while (payloads := self.now()) is False:  # inline, not a helper coroutine: an idle stream
            await self._response.wait()  # waits a frame less
        return payloads

    def now(self) -> list[bytes] | Literal[False] | None:
        """`next_payloads()` in a plain call: False if it would wait."""
        if self.ended:
            return None
        try:
            if self._response.waiting():
                return False
        except StreamFailure as exc:
            raise transport_error(exc) from None
        chunk = self._response.take()
        if not chunk:
            self.ended = True
            return self._decoder.finish()
        return self._decoder.feed(chunk)

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Have `listener` called whenever `now()` may have something, from the connection's own
        callback, instead of waking `next_payloads()`; None: back to waking it."""
        self._response.listener = listener

    def close(self) -> None:
        """Back to the pool if the body ended, else closed (the upstream sees its request end)."""
        if self.ended:
            self._response.release()
        else:
            self._response.close()
