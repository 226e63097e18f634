"""`IdleWatch`: a streamed body silent for the idle timeout fails with a read timeout, only then.

The sweep is driven by hand (`sweep(now)`) over real responses (`h1.StreamPool`) from a loopback server
that sends a chunked event stream and then says nothing, so each check is about the rule, not the clock."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.errors import UpstreamTimeout
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.upstream.h1 import Response, StreamPool
from gateway.upstream.http import upstream_http
from gateway.upstream.idle import IdleWatch
from gateway.upstream.sse_body import SSEBody

pytestmark = pytest.mark.asyncio

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream:
    """Answers each request with the headers, then sends what `send` is given, as HTTP chunks."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.arrived = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD)
        self.writers.append(writer)
        self.arrived.set()
        await reader.read()  # until the gateway hangs up

    async def send(self, data: bytes, at: int = -1) -> None:
        self.writers[at].write(chunk(data))
        await self.writers[at].drain()


@asynccontextmanager
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    up = Upstream()
    server = await asyncio.start_server(up.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield up, f"http://127.0.0.1:{port}/"
    finally:
        for writer in up.writers:
            writer.close()
        server.close()


async def settle() -> None:
    """Until what the server wrote has reached the response's buffer (loopback: a few loop turns)."""
    for _ in range(20):
        await asyncio.sleep(0.005)


async def read_to(body: SSEBody, payload: bytes) -> None:
    while payload not in (await body.next_payloads() or [payload]):
        pass


@asynccontextmanager
async def watched() -> AsyncIterator[tuple[Upstream, IdleWatch, Response, SSEBody]]:
    """One streamed response from a fresh upstream, watched with a 10 s timeout."""
    pool = StreamPool(10, None)
    async with upstream() as (up, url):
        watch = IdleWatch(10.0)
        response = await pool.post(url, b"", {})
        watch.add(response)
        body = SSEBody(response)
        try:
            yield up, watch, response, body
        finally:
            body.close()
            pool.close()


async def test_a_silent_body_fails_after_the_timeout_and_not_before() -> None:
    async with watched() as (up, watch, response, body):
        await up.send(b"data: one\n\n")
        await read_to(body, b"one")

        watch.sweep(100.0)  # first look: silence counts from here
        watch.sweep(109.9)
        await up.send(b"data: two\n\n")  # MiniMax speaks again: the silence starts over
        await read_to(body, b"two")
        watch.sweep(110.0)
        watch.sweep(119.9)
        assert response.exception is None and len(watch) == 1

        watch.sweep(120.0)  # 10 s without a byte
        with pytest.raises(UpstreamTimeout):
            await body.next_payloads()
        assert len(watch) == 0


async def test_bytes_the_gateway_has_not_taken_are_not_silence() -> None:
    """A slow client leaves the body's bytes waiting in its buffer: MiniMax is not the one silent."""
    async with watched() as (up, watch, response, body):
        await up.send(b"data: waiting\n\n")
        await settle()
        watch.sweep(100.0)
        watch.sweep(150.0)
        assert response.exception is None
        assert await body.next_payloads() == [b"waiting"]  # nothing lost either
        watch.sweep(159.0)
        watch.sweep(160.0)  # taken at 150 at the latest, and nothing since
        with pytest.raises(UpstreamTimeout):
            await body.next_payloads()


async def test_bodies_that_ended_or_were_closed_are_forgotten() -> None:
    pool = StreamPool(10, None)
    async with upstream() as (up, url):
        watch = IdleWatch(10.0)
        ended, closed, dropped = [await pool.post(url, b"", {}) for _ in range(3)]
        for response in (ended, closed, dropped):
            watch.add(response)
        assert len(watch) == 3
        dropped.close()
        del dropped, response
        gc.collect()
        assert len(watch) == 2  # held weakly: a closed response the gateway let go of leaves at once

        up.writers[0].write(chunk(b"data: end\n\n") + b"0\r\n\r\n")  # the first body ends cleanly
        await read_to(SSEBody(ended), b"end")
        await ended.read()
        closed.close()
        watch.sweep(100.0)
        assert len(watch) == 0
        pool.close()


async def test_the_pool_runs_the_sweep_at_a_quarter_of_the_timeout() -> None:
    """The whole path at the app's level: a stream opened through `StreamPost`, a real clock."""

    async def accept(response: Response) -> SSEBody:
        return SSEBody(response)

    settings = Settings(idle_timeout=0.4)
    async with upstream() as (up, url), upstream_http(settings, Metrics()) as pools:
        body = await pools.streams.open(
            url, b"", {}, call="test", accept=accept, error_label=lambda _e, _s: None, late="late"
        )
        await up.send(b"data: one\n\n")
        await read_to(body, b"one")
        with pytest.raises(UpstreamTimeout):
            async with asyncio.timeout(30):  # a sweep that never fails it would hang the test here
                while True:
                    await body.next_payloads()
        body.close()
