"""The one loop that joins IO and core: frame batches -> translator -> SSE bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from gateway.errors import GatewayError
from gateway.sse import DONE, encode_all
from gateway.translate.events import Event
from gateway.translate.run_stream import RunStreamTranslator
from gateway.upstream.frames import Frame


class FrameSource(Protocol):
    """Where frames come from: a create_stream response, or a run followed by polling."""

    async def next_batch(self) -> list[Frame] | None:
        """The next frames (maybe none yet); None when the source ended cleanly. Raises GatewayError."""
        ...

    async def aclose(self) -> None: ...


async def relay(
    source: FrameSource, translator: RunStreamTranslator, prelude: list[Event]
) -> AsyncIterator[bytes]:
    """One chunk per batch (everything decoded from one upstream read goes out together); the
    stream always ends with a terminal run event and `done`, and the source is always closed."""
    try:
        events = list(prelude)
        try:
            while not translator.terminal and (batch := await source.next_batch()) is not None:
                for frame in batch:
                    events.extend(translator.on_frame(frame))
                if events:
                    yield encode_all(events)
                    events = []
            events.extend(translator.finish())
        except GatewayError as exc:
            events.extend(translator.fail("server_error", exc.message))
        yield encode_all(events) + DONE
    finally:
        await source.aclose()
