"""A streamed upstream response read straight from aiohttp as SSE `data` payloads, one batch per read.

Streams skip httpx (REST calls keep it): httpx's stream wrappers cost CPU on every read and cap each
read at 16 KB, while `readany()` hands over everything the socket has buffered, so a busy stream is
decoded, translated and written in a few large batches instead of many small ones
(`drain`: the same, without aiohttp's upkeep per HTTP chunk).
"""

from __future__ import annotations

import aiohttp

from gateway.upstream import drain
from gateway.upstream.errors import transport_error
from gateway.upstream.sse_decoder import SSEDecoder


class SSEBody:
    """`next_payloads()` gives each read's payloads; `close()` frees the connection."""

    __slots__ = ("_content", "_decoder", "_drain", "_response", "ended")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._content = response.content
        self._drain = drain.fits(self._content)  # else aiohttp's own readany()
        self._decoder = SSEDecoder()
        self.ended = False  # the body ended cleanly

    async def next_payloads(self) -> list[bytes] | None:
        """The payloads of the next read (maybe none); None once the body ended. A broken
        connection or a silence past the read timeout raises `GatewayError`: a cut never looks like
        an end."""
        if self.ended:
            return None
        content = self._content
        try:
            if self._drain:  # inline, not a helper coroutine: an idle stream waits in one frame less
                while drain.waiting(content):
                    await drain.wait(content)
                chunk = drain.take(content)
            else:
                chunk = await content.readany()
        except (aiohttp.ClientError, TimeoutError) as exc:  # `TransportErrors` inline (0.3 µs less a read)
            raise transport_error(exc) from None
        if not chunk:
            self.ended = True
            return self._decoder.finish()
        return self._decoder.feed(chunk)

    def close(self) -> None:
        """Back to the pool if the body ended, else closed (the upstream sees its request end)."""
        if self.ended:
            self._response.release()
        else:
            self._response.close()
