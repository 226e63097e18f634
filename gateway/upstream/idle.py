"""The read timeout of streamed upstream bodies: one sweep for the process, not a timer per read.

A per-read timer would be cancelled and re-armed on every read, and MiniMax sends every SSE event as a
packet of its own: at hundreds of streams that is a timer made and dropped per chunk
(tests/bench/README.md, "Measurements behind the design"). `IdleWatch` looks at every open body every
quarter of the timeout instead, so a silence is noticed at most a quarter of the timeout late, and
fails the body with `h1.ReadTimeout`, which `TransportErrors` maps.

A body is silent while MiniMax sends nothing (its byte count stands still) and nothing waits in its
buffer: a body whose bytes wait for the gateway to take them (its client is slow) is not MiniMax's
silence.
"""

from __future__ import annotations

import asyncio
import weakref

from gateway.upstream.h1 import ReadTimeout, Response


class IdleWatch:
    """`add(response)` once its body streams; `run()` (the app's lifespan) sweeps until cancelled.
    Responses are held weakly: one that is done and dropped leaves on its own."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # response -> (its body's byte count when last seen moving, the loop time it was seen then)
        self._bodies: weakref.WeakKeyDictionary[Response, tuple[int, float]] = weakref.WeakKeyDictionary()

    def add(self, response: Response) -> None:
        self._bodies[response] = (-1, 0.0)

    def __len__(self) -> int:
        return len(self._bodies)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.timeout / 4)
            self.sweep(loop.time())

    def sweep(self, now: float) -> None:
        """Fail each body silent for `timeout` as of `now`; forget the ones that are done."""
        for response, (count, since) in list(self._bodies.items()):
            if response.closed or response.eof or response.exception is not None:
                del self._bodies[response]
            elif response.received != count or response.buffered:  # moving, or the gateway is behind
                self._bodies[response] = (response.received, now)
            elif now - since >= self.timeout:
                del self._bodies[response]
                response.fail(ReadTimeout("MiniMax sent nothing for the idle timeout"))
