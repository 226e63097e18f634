"""The one loop that joins a backend's run events to the client: event batches -> SSE bytes -> writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from gateway.errors import GatewayError
from gateway.lifecycle import StreamHandle
from gateway.metrics import Metrics
from gateway.stream.events import StreamEvent, TextDelta
from gateway.stream.sse import DONE, PING, encode_into, encode_text, error_event

log = logging.getLogger("gateway.relay")
INTERNAL = "The gateway failed while translating this stream"
SHUTDOWN = "The gateway shut down before the run ended; poll the run for its outcome"


class Write(Protocol):
    """Sends bytes to the client; `last=True` also ends the response (one write less per stream)."""

    async def __call__(self, chunk: bytes, last: bool = False) -> None: ...


WriteNow = Callable[[bytes], bool]
"""Writes bytes that do not end the response in a plain call, if the client's connection takes them at
once: True; False: nothing written, use `Write` (`gateway.stream.response`, `gateway.body_writes`)."""

Sink = Callable[[Sequence[StreamEvent]], Awaitable[None] | None]
"""Sends one read's events to the client, from the task that made them: None once written, else the
write to await."""

TextSink = Callable[[TextDelta], Awaitable[None] | None]
"""`Sink` for a read whose only event is one text delta, the most frequent read at MiniMax's pace (a
chunk a read): the same bytes, counts and return, without the read's list and the encoder's loop."""


class EventSource(Protocol):
    """A run's OpenAI events as a backend makes them (the bridge from MiniMax frames, the engine
    from chat chunks), each backend driving the stream emitter."""

    @property
    def prelude(self) -> Sequence[StreamEvent]:
        """Events that go out first (`thread.created` for create-and-run)."""
        ...

    @property
    def terminal(self) -> bool:
        """The terminal run event was made: nothing more will come."""
        ...

    def opening(self) -> asyncio.Future[None]:
        """Done once the upstream is reached and read to its first event (started on the first
        call); a rejection is its exception. The edge waits on it a bounded time before the stream
        starts, so that a quick rejection is an HTTP error; the relay waits on the rest."""
        ...

    def next_batch(self) -> Awaitable[Iterable[Any] | None]:
        """The units (frames, chunks' events) of the next upstream read, maybe parsed as they are
        iterated; None when the upstream ended cleanly. Raises `GatewayError` (also from the
        iteration) when it broke."""
        ...

    def translate(self, unit: Any) -> Sequence[StreamEvent]:
        """The events of one unit."""
        ...

    def attach(self, sink: Sink, text: TextSink) -> asyncio.Future[None] | None:
        """Let the source's own producer send each read's events through `sink` (a read of one text
        delta through `text`, if it likes) from its task, instead of handing them to the relay's (one
        task wake-up less per read): a future done when nothing more will come. None while it has
        events queued for `next_batch` (the relay takes those first and asks again) or when it has no
        producer task of its own (it is read by `next_batch`)."""
        ...

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        """Close the stream as a failed run."""
        ...

    def finish(self) -> list[StreamEvent]:
        """Close the stream after a clean end."""
        ...

    async def aclose(self) -> None:
        """Release the upstream (also when the stream was cut short)."""
        ...


def _encode(
    batch: Iterable[Any], translate: Callable[[Any], Sequence[StreamEvent]], parts: list[bytes]
) -> tuple[int, int]:
    """Translate and encode one read's units into `parts`: (units, events). A function of its own,
    so that nothing of the read outlives it while the stream waits for the next."""
    units = events = 0
    for out in map(translate, batch):  # map calls `translate` from C: cheaper than from this loop
        units += 1
        if out:
            events += len(out)
            encode_into(out, parts)
    return units, events


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


async def relay(
    source: EventSource,
    metrics: Metrics,
    write: Write,
    handle: StreamHandle,
    write_now: WriteNow | None = None,
) -> None:
    """One write per batch (everything made from one upstream read goes out together); each unit's events are
    encoded as they are taken, so a batch holds bytes, not objects. A source with a producer task of its own
    (`attach`) writes its batches from that task once the relay has written what came before (the prelude goes
    out with its first batch). A batch goes out in a plain call (`write_now`) when the connection takes it at
    once, else through `write`. The stream always ends with a terminal run event and `done`, and the source
    is always closed."""
    parts = encode_into(source.prelude, [])  # encoded, not yet written
    units = 0
    events_out = len(source.prelude)
    closing: list[StreamEvent] = []
    translate = source.translate

    def sink(events: Sequence[StreamEvent]) -> Awaitable[None] | None:
        """A read's events, from the producer's task; the first write carries the prelude too. A plain
        call, writing them or returning the write, not a coroutine of its own: it runs for every read."""
        nonlocal parts, units, events_out
        units += 1
        events_out += len(events)
        chunk, parts = b"".join(encode_into(events, parts)), []
        if write_now is not None and write_now(chunk):
            return None
        return write(chunk)

    def text(delta: TextDelta) -> Awaitable[None] | None:
        """`sink([delta])` (`TextSink`), for a read whose only event is one text delta."""
        nonlocal parts, units, events_out
        units += 1
        events_out += 1
        chunk = encode_text(delta)
        if parts:  # the prelude, not written yet
            chunk, parts = b"".join(parts) + chunk, []
        if write_now is not None and write_now(chunk):
            return None
        return write(chunk)

    try:
        try:
            handle.relaying = True  # from here a drain cancels this task: the run ends as failed, not cut
            opening = source.opening()
            if not opening.done():  # the upstream is slow to start: the client hears a ping meanwhile
                await write(PING)
                await asyncio.shield(opening)  # leaving does not stop it: the source decides (aclose)
            opening.result()
            del opening
            while not (source.terminal or handle.stopped):
                if (direct := source.attach(sink, text)) is not None:
                    await direct  # the producer writes from here to its end (or until the client left)
                    break
                if (batch := await source.next_batch()) is None:
                    break
                read_units, read_events = _encode(batch, translate, parts)
                del batch  # an idle stream keeps no unit or event objects while it waits
                units += read_units
                events_out += read_events
                if parts:
                    chunk, parts = b"".join(parts), []
                    if write_now is None or not write_now(chunk):
                        await write(chunk)
                    del chunk
            handle.relaying = False
            closing = source.fail("server_error", SHUTDOWN) if handle.stopped else source.finish()
        except asyncio.CancelledError:
            handle.relaying = False
            if not handle.stopped:
                raise  # the client left (or the server is going down hard): nothing more to send
            _uncancel()
            closing = source.fail("server_error", SHUTDOWN)
        except GatewayError as exc:
            closing = source.fail(exc.code if exc.code in _RUN_ERROR_CODES else "server_error", exc.message)
        except Exception:  # a bug must still end the stream properly, never cut it
            log.exception("translating a stream failed")
            try:
                closing = source.fail("server_error", INTERNAL)
            except Exception:
                log.exception("closing the failed stream failed too")
                await write(b"".join(parts) + error_event(INTERNAL) + DONE, last=True)
                return
        events_out += len(closing)
        await write(b"".join(encode_into(closing, parts)) + DONE, last=True)
    finally:
        metrics.frames_in.inc(units)
        metrics.events_out.inc(events_out)
        await source.aclose()


_RUN_ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})
"""The codes a run's `last_error` may carry (OpenAI's spec); any other failure is a `server_error`."""
