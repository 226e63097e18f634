"""`drain` (waiting, wait, take, as `SSEBody` reads) reads what `readany()` reads, over real HTTP
on loopback: every byte once and in order, whatever the chunking and pauses, through aiohttp's flow
control (bodies past its buffer limits), and with the same errors for a cut body and a silent one."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from gateway.upstream import drain
from gateway.upstream.sse_body import SSEBody

pytestmark = pytest.mark.asyncio
Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(write_body: Writer) -> AsyncIterator[str]:
    """A raw HTTP/1.1 server on loopback answering every request with a chunked body."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        try:
            await write_body(writer)
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.close()
        await srv.wait_closed()


async def readall(reader: aiohttp.StreamReader) -> bytes:
    """The drain's three steps as `SSEBody.next_payloads` takes them."""
    while drain.waiting(reader):
        await drain.wait(reader)
    return drain.take(reader)


def pieces(seed: int, count: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [
        bytes(rnd.randrange(256) for _ in range(rnd.choice((1, 7, 390, 4096, 70_000)))) for _ in range(count)
    ]


def chunked(writer: asyncio.StreamWriter, piece: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))


async def read_with(url: str, read: str, wait_first: float = 0, **timeouts: float) -> list[bytes]:
    timeout = aiohttp.ClientTimeout(total=None, **timeouts)
    async with (
        asyncio.timeout(20),  # a reader that repeats or loses its place fails here instead of hanging
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url) as response,
    ):
        content = response.content
        assert drain.fits(content)  # the installed aiohttp has the internals the drain uses
        await asyncio.sleep(wait_first)  # the body piles up past aiohttp's limits: it pauses reading
        reads: list[bytes] = []
        while True:
            data = await (readall(content) if read == "readall" else content.readany())
            if not data:
                return reads
            reads.append(data)
            await asyncio.sleep(0)  # the reader is busy now and then: entries pile up


@pytest.mark.parametrize("seed", range(6))
async def test_every_byte_once_in_order_whatever_the_chunking(seed: int) -> None:
    sent = pieces(seed, 120)

    async def body(writer: asyncio.StreamWriter) -> None:
        rnd = random.Random(seed)
        for piece in sent:
            chunked(writer, piece)
            if rnd.random() < 0.2:
                await writer.drain()
                await asyncio.sleep(rnd.choice((0, 0.001)))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with server(body) as url:
        drained = await read_with(url, "readall")
        anyway = await read_with(url, "readany")
    assert b"".join(drained) == b"".join(anyway) == b"".join(sent)


async def test_many_small_chunks_come_in_few_reads_past_the_buffer_limits() -> None:
    sent = [b"data: %d\n\n" % i for i in range(20_000)]  # SSE events, one HTTP chunk each

    async def body(writer: asyncio.StreamWriter) -> None:
        for piece in sent:
            chunked(writer, piece)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with server(body) as url:
        drained = await read_with(url, "readall", wait_first=0.3)
    assert b"".join(drained) == b"".join(sent)
    assert len(drained) < len(sent) / 10


async def test_a_cut_body_raises_as_readany_does() -> None:
    async def body(writer: asyncio.StreamWriter) -> None:
        chunked(writer, b"data: one\n\n")
        writer.write(b"40\r\npartial")  # a chunk announced longer than what comes before the close
        await writer.drain()

    async with server(body) as url:
        for read in ("readall", "readany"):
            with pytest.raises(aiohttp.ClientPayloadError):
                await read_with(url, read)


async def test_a_silent_body_times_out_as_readany_does() -> None:
    async def body(writer: asyncio.StreamWriter) -> None:
        chunked(writer, b"data: one\n\n")
        await writer.drain()
        await asyncio.sleep(5)

    async with server(body) as url:
        for read in ("readall", "readany"):
            with pytest.raises(TimeoutError):
                await read_with(url, read, sock_read=0.3)


async def test_sse_body_reads_with_readall() -> None:
    async def body(writer: asyncio.StreamWriter) -> None:
        for i in range(50):
            chunked(writer, b'data: {"n": %d}\n\n' % i)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with server(body) as url, aiohttp.ClientSession() as session:
        response = await session.get(url)
        sse = SSEBody(response)
        assert sse._drain
        payloads: list[bytes] = []
        while (batch := await sse.next_payloads()) is not None:
            payloads += batch
        sse.close()
    assert payloads == [b'{"n": %d}' % i for i in range(50)]


async def test_a_reader_that_keeps_up_never_resumes_what_was_not_paused() -> None:
    """One SSE event per read, the reader never behind: no read asks aiohttp to resume reading (which
    would feed its parser an empty piece each time); a paused body still resumes (the tests above)."""
    sent = [b"data: %d\n\n" % i for i in range(200)]

    async def body(writer: asyncio.StreamWriter) -> None:
        for piece in sent:
            chunked(writer, piece)
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with (
        server(body) as url,
        aiohttp.ClientSession() as session,
        session.get(url) as response,
    ):
        content = response.content
        protocol: Any = content._protocol
        resumed = 0
        resume = protocol.resume_reading

        def counted(*args: Any, **kwargs: Any) -> None:
            nonlocal resumed
            resumed += 1
            resume(*args, **kwargs)

        protocol.resume_reading = counted
        reads = []
        while data := await readall(content):
            reads.append(data)
    assert b"".join(reads) == b"".join(sent)
    assert len(reads) > 100  # the reader kept up: about one event per read
    assert resumed <= 1  # the end of the body may resume once (aiohttp's own feed_eof)
