"""The one loop that joins IO and core: frame batches -> translator -> SSE bytes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from gateway.errors import GatewayError
from gateway.lifecycle import StreamHandle
from gateway.metrics import Metrics
from gateway.sse import DONE, encode_into, error_event
from gateway.translate.events import Event
from gateway.translate.run_stream import RunStreamTranslator
from gateway.upstream.frames import Frame

log = logging.getLogger("gateway.relay")
INTERNAL = "The gateway failed while translating this stream"
SHUTDOWN = "The gateway shut down before the run ended; it may still finish on MiniMax (poll the run)"


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
    prelude: list[Event],
    write: Callable[[bytes], Awaitable[None]],
    handle: StreamHandle,
    metrics: Metrics,
) -> None:
    """One write per batch (everything decoded from one upstream read goes out together); each
    frame is translated and encoded as it is taken, so a batch holds bytes, not objects. The
    stream always ends with a terminal run event and `done`, and the source is always closed."""
    parts = encode_into(prelude, [])  # encoded, not yet written
    sent = len(prelude)
    events: list[Event] = []  # the closing events
    try:
        try:
            with handle.scope:  # a drain cancels it: the run then ends as failed, not cut
                on_frame = translator.on_frame
                while not translator.terminal and (batch := await source.next_batch()) is not None:
                    frames = 0
                    for frame in batch:
                        frames += 1
                        if frame.kind == "error":
                            metrics.upstream_errors.labels(code=str(frame.data.get("code"))).inc()
                        if out := on_frame(frame):
                            sent += len(out)
                            encode_into(out, parts)
                    metrics.frames_in.inc(frames)
                    if parts:
                        metrics.events_out.inc(sent)
                        chunk, parts, sent = b"".join(parts), [], 0
                        await write(chunk)
                events = translator.finish()
            if handle.scope.cancelled_caught:
                events.extend(translator.fail("server_error", SHUTDOWN))
        except GatewayError as exc:
            events.extend(translator.fail("server_error", exc.message))
        except Exception:  # a bug must still end the stream properly, never cut it
            log.exception("translating a stream failed")
            try:
                events.extend(translator.fail("server_error", INTERNAL))
            except Exception:
                log.exception("closing the failed stream failed too")
                await write(b"".join(parts) + error_event(INTERNAL) + DONE)
                return
        metrics.events_out.inc(sent + len(events))
        await write(b"".join(encode_into(events, parts)) + DONE)
    finally:
        await source.aclose()
