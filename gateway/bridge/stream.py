"""An open `create_stream` response (see `gateway.upstream.sse_body`): one batch of frames per read."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator

from gateway.bridge.frames import Frame, parse_frame
from gateway.errors import UpstreamError
from gateway.upstream.errors import from_base_resp
from gateway.upstream.h1 import Response
from gateway.upstream.sse_body import SSEBody

log = logging.getLogger("gateway.upstream")


class UpstreamStream:
    """`open()` reads to the first frame (an error there is a rejection: it raises); `next_batch()`
    returns the frames of each further read; `aclose()` frees the connection (reused if the body ended)."""

    __slots__ = ("_body", "_ids", "_next_read", "_pending", "skipped")

    def __init__(self, response: Response, ids: Collection[str] = ()) -> None:
        self._body = SSEBody(response)
        self._next_read = self._body.next_payloads
        self._ids = ids  # ids the request names, for error mapping
        self._pending: tuple[Frame, list[bytes]] | None = None  # the first frame and the rest of its read
        self.skipped = 0  # payloads that were not MiniMax frames (keep-alives, garbage)

    async def open(self) -> None:
        """Read up to the first frame. An error there is a rejection of the request: raise it."""
        while (payloads := await self._next_read()) is not None:
            for i, payload in enumerate(payloads):
                frame = parse_frame(payload)
                if frame is None:
                    self.skipped += 1
                    continue
                if frame.kind == "error" and isinstance(frame.data, dict):  # errors are always dicts
                    raise from_base_resp(frame.data["code"], frame.data["message"], ids=self._ids)
                self._pending = (frame, payloads[i + 1 :])
                return
        raise UpstreamError("MiniMax ended the stream before sending a frame")

    async def next_batch(self) -> Iterator[Frame] | None:
        """The frames of the next read (maybe none), parsed as they are taken; None once the body
        ended cleanly. A broken connection raises `GatewayError`: a cut stream never looks like a
        clean end. Parsing lazily keeps one frame's objects in memory at a time, not a read's worth."""
        if self._pending is not None:
            (first, rest), self._pending = self._pending, None
            return self._frames(rest, first)
        payloads = await self._next_read()
        return None if payloads is None else self._frames(payloads)

    def _frames(self, payloads: list[bytes], first: Frame | None = None) -> Iterator[Frame]:
        if first is not None:
            yield first
        for payload in payloads:
            frame = parse_frame(payload)
            if frame is None:
                self.skipped += 1
            else:
                yield frame

    async def aclose(self) -> None:
        if self.skipped:
            log.warning("skipped %d upstream payloads that were not MiniMax frames", self.skipped)
        self._body.close()
