"""uvicorn's server, woken once a second instead of ten times, and the gateway's: on SIGTERM, drain open
streams, then exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from types import FrameType
from typing import Final

import uvicorn

from gateway import heap
from gateway.lifecycle import Lifecycle

log = logging.getLogger("gateway")

TICK_SECONDS: Final = 1.0


class Server(uvicorn.Server):
    """uvicorn's server, its main loop woken every `TICK_SECONDS` and at once when `should_exit` is set
    (from any thread). uvicorn's wakes every 0.1 s to see whether it should exit and, every tenth time,
    to refresh the Date header. Those ten wake-ups a second cost an idle engine 2.2 ms of CPU a second of
    its 3.3 on the benchmark's VM (`docs/performance.md`, "Idle"), and a process pays them under load too.
    Here each tick does what uvicorn does once a second; an exit does not wait for one."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit = False
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        super().__init__(config)

    @property  # uvicorn's is a plain attribute; this one wakes the main loop too
    def should_exit(self) -> bool:
        return self._exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exit = value
        if value and (wake := self._wake) is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to wake
                wake[0].call_soon_threadsafe(wake[1].set)

    async def main_loop(self) -> None:
        exiting = asyncio.Event()
        self._wake = asyncio.get_running_loop(), exiting
        try:
            while not await self.on_tick(0):  # counter 0: uvicorn's once-a-second work, every tick
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK_SECONDS):
                        await exiting.wait()
        finally:
            self._wake = None


class GatewayServer(Server):
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
