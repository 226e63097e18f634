"""The one loop that joins IO and core: frame batches -> translator -> SSE bytes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

import orjson

from gateway.errors import GatewayError
from gateway.lifecycle import StreamHandle
from gateway.metrics import Metrics
from gateway.sse import DONE, encode_into, error_event
from gateway.translate.events import TEXT_DELTA_TAIL, StreamEvent, TextDelta
from gateway.translate.run_stream import RunStreamTranslator
from gateway.upstream.frames import Frame

log = logging.getLogger("gateway.relay")
_dumps = orjson.dumps
INTERNAL = "The gateway failed while translating this stream"
SHUTDOWN = "The gateway shut down before the run ended; it may still finish on MiniMax (poll the run)"


class _Tally:
    """Frames in and events out of one stream, added to the metrics once, when it ends: a
    Prometheus increment per read would cost more than translating a small frame."""

    __slots__ = ("events", "frames")

    def __init__(self) -> None:
        self.frames = self.events = 0


def _translate(
    batch: Iterable[Frame],
    translator: RunStreamTranslator,
    parts: list[bytes],
    tally: _Tally,
    metrics: Metrics,
) -> None:
    """Translate and encode one read's frames into `parts`."""
    on_frame = translator.on_frame
    append = parts.append
    for frame in batch:
        tally.frames += 1
        if frame.kind == "error":
            metrics.upstream_errors.labels(code=str(frame.data.get("code"))).inc()
        if out := on_frame(frame):
            tally.events += len(out)
            if len(out) == 1 and type(event := out[0]) is TextDelta:  # most frames: `encode_into` inlined
                append(event.head)
                append(_dumps(event.piece))
                append(TEXT_DELTA_TAIL)
            else:
                encode_into(out, parts)


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


class Write(Protocol):
    """Sends bytes to the client; `last=True` also ends the response (one write less per stream)."""

    async def __call__(self, chunk: bytes, last: bool = False) -> None: ...


class FrameSource(Protocol):
    """Where frames come from: a create_stream response, or a run followed by polling."""

    async def next_batch(self) -> Iterable[Frame] | None:
        """The next frames (maybe none yet); None when the source ended cleanly. Raises GatewayError.
        The frames may be parsed as they are iterated (parse errors then raise from the iteration)."""
        ...

    async def aclose(self) -> None: ...


async def relay(
    source: FrameSource,
    translator: RunStreamTranslator,
    prelude: Sequence[StreamEvent],
    metrics: Metrics,
    write: Write,
    handle: StreamHandle,
) -> None:
    """One write per batch (everything decoded from one upstream read goes out together); each
    frame is translated and encoded as it is taken, so a batch holds bytes, not objects. The
    stream always ends with a terminal run event and `done`, and the source is always closed."""
    parts = encode_into(prelude, [])  # encoded, not yet written
    tally = _Tally()
    tally.events = len(prelude)
    events: list[StreamEvent] = []  # the closing events
    try:
        try:
            handle.relaying = True  # from here a drain cancels this task: the run ends as failed, not cut
            while (
                not (translator.terminal or handle.stopped)
                and (batch := await source.next_batch()) is not None
            ):
                _translate(batch, translator, parts, tally, metrics)
                del batch  # an idle stream keeps no frame or event objects while it waits
                if parts:
                    chunk, parts = b"".join(parts), []
                    await write(chunk)
                    del chunk
            handle.relaying = False
            events = translator.fail("server_error", SHUTDOWN) if handle.stopped else translator.finish()
        except asyncio.CancelledError:
            handle.relaying = False
            if not handle.stopped:
                raise  # the client left (or the server is going down hard): nothing more to send
            _uncancel()
            events = translator.fail("server_error", SHUTDOWN)
        except GatewayError as exc:
            events.extend(translator.fail("server_error", exc.message))
        except Exception:  # a bug must still end the stream properly, never cut it
            log.exception("translating a stream failed")
            try:
                events.extend(translator.fail("server_error", INTERNAL))
            except Exception:
                log.exception("closing the failed stream failed too")
                await write(b"".join(parts) + error_event(INTERNAL) + DONE, last=True)
                return
        tally.events += len(events)
        await write(b"".join(encode_into(events, parts)) + DONE, last=True)
    finally:
        metrics.frames_in.inc(tally.frames)
        metrics.events_out.inc(tally.events)
        await source.aclose()
