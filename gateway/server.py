"""uvicorn's server with the gateway's shutdown: on SIGTERM, drain open streams, then exit."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn

from gateway import heap
from gateway.lifecycle import Lifecycle

log = logging.getLogger("gateway")


class GatewayServer(uvicorn.Server):
    """The first SIGTERM/SIGINT starts a drain (readiness fails and new requests get 503 at once;
    open streams get `drain_seconds`, then end with a terminal event); uvicorn exits after it.
    A second signal exits at once."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self._lifecycle = lifecycle
        self._drain_seconds = drain_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        heap.settle()  # the app and its backend are built: what exists now lives as long as the process

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self._lifecycle.draining:
            super().handle_exit(sig, frame)
            return
        self._lifecycle.begin_drain()
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        log.info("draining: %d open streams, up to %g s", self._lifecycle.open_streams, self._drain_seconds)
        self._drain = asyncio.ensure_future(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        await self._lifecycle.drain(self._drain_seconds)
        log.info("drained; shutting down")
        self.should_exit = True
