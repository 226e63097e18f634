"""The read timeout of streamed upstream bodies: one sweep for the process, not a timer per read.

aiohttp's own (`ClientTimeout(sock_read=...)`) cancels and re-arms a loop timer on every
`data_received`; MiniMax sends every SSE event as a packet of its own, so at hundreds of streams that
is a timer made and dropped per chunk (tests/bench/README.md, "Measurements behind the design").
`IdleWatch` looks at every open body every quarter of the timeout instead, so a silence is noticed
at most a quarter of the timeout late, and fails it the way aiohttp's timer does: the body's reader
raises `aiohttp.SocketTimeoutError`, which `TransportErrors` maps as before.

A body is silent while MiniMax sends nothing (its byte count stands still) and nothing waits in its
buffer: a body whose bytes wait for the gateway to take them (its client is slow) is not MiniMax's
silence, just as aiohttp stops its timer while reading is paused.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import aiohttp

log = logging.getLogger("gateway.upstream")


class IdleWatch:
    """`add(response)` once its body streams; `run()` (the app's lifespan) sweeps until cancelled.
    Responses are held weakly: one that is done and dropped leaves on its own."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # response -> [its body's byte count when last seen moving, the loop time it was seen then]
        self._bodies: weakref.WeakKeyDictionary[aiohttp.ClientResponse, list[Any]] = (
            weakref.WeakKeyDictionary()
        )

    def add(self, response: aiohttp.ClientResponse) -> None:
        self._bodies[response] = [-1, 0.0]

    def __len__(self) -> int:
        return len(self._bodies)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.timeout / 4)
            self.sweep(loop.time())

    def sweep(self, now: float) -> None:
        """Fail each body silent for `timeout` as of `now`; forget the ones that are done."""
        for response, seen in list(self._bodies.items()):
            try:
                content = response.content
                if response.closed or content.is_eof() or content.exception() is not None:
                    del self._bodies[response]
                    continue
                received = content.total_bytes
                if received != seen[0] or content._buffer:  # moving, or the gateway is the one behind
                    seen[0], seen[1] = received, now
                elif now - seen[1] >= self.timeout:
                    del self._bodies[response]
                    content.set_exception(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))
            except Exception:  # one body the sweep cannot read must not stop it for the others
                log.exception("idle-timeout sweep: a stream could not be checked; it is no longer timed")
                self._bodies.pop(response, None)
