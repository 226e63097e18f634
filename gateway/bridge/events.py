"""A bridge run stream as the relay reads it: frames from MiniMax (a stream or a followed run),
each turned into its OpenAI events by the translator as the relay iterates them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from gateway.bridge.frames import Frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.metrics import Metrics
from gateway.stream.events import StreamEvent
from gateway.stream.relay import Sink, TextSink


class FrameSource(Protocol):
    """Where frames come from: a create_stream response, or a run followed by polling."""

    async def next_batch(self) -> Iterable[Frame] | None:
        """The next frames (maybe none yet); None when the source ended cleanly. Raises GatewayError.
        The frames may be parsed as they are iterated (parse errors then raise from the iteration)."""
        ...

    async def aclose(self) -> None: ...


class FrameEvents:
    """An `EventSource` over a `FrameSource` (or what opens one: MiniMax's create_stream, read to
    its first frame) and the translator that reads it."""

    __slots__ = ("_metrics", "_opener", "_opening", "_source", "prelude", "translate", "translator")

    def __init__(
        self,
        source: FrameSource | Callable[[], Awaitable[FrameSource]],
        translator: RunStreamTranslator,
        metrics: Metrics,
        prelude: Sequence[StreamEvent] = (),
    ) -> None:
        self._source: FrameSource | None = None
        self._opener: Callable[[], Awaitable[FrameSource]] | None = None
        if callable(source):
            self._opener = source
        else:
            self._source = source
        self._opening: asyncio.Future[None] | None = None
        self.translator = translator
        self.translate = translator.on_frame  # a unit is a frame
        self._metrics = metrics
        self.prelude = prelude

    @property
    def terminal(self) -> bool:
        return self.translator.emitter.terminal

    def opening(self) -> asyncio.Future[None]:
        opening = self._opening
        if opening is None:
            if self._opener is None:
                opening = asyncio.get_running_loop().create_future()
                opening.set_result(None)
            else:
                opening = self._opening = asyncio.ensure_future(self._open(self._opener))
        elif opening.done():
            self._opening = None  # asked again once open (by the relay): an idle stream keeps no task
        return opening

    async def _open(self, opener: Callable[[], Awaitable[FrameSource]]) -> None:
        self._source = await opener()
        self._opener = None

    def next_batch(self) -> Awaitable[Iterable[Frame] | None]:
        """The source's own read (no coroutine of ours in between: an idle stream holds one frame
        less); the relay translates each frame it takes."""
        assert self._source is not None
        return self._source.next_batch()

    @staticmethod
    def attach(sink: Sink, text: TextSink) -> None:
        """The relay's own task reads the frames (`next_batch`): there is no producer to write."""
        return None

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        return self.translator.fail(code, message)

    def finish(self) -> list[StreamEvent]:
        return self.translator.finish()

    async def aclose(self) -> None:
        """Release MiniMax's stream; one still being opened is abandoned (closing its request)."""
        if (code := self.translator.error_code) is not None:
            self._metrics.upstream_errors.labels(code=str(code)).inc()
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self._source is not None:
            await self._source.aclose()
