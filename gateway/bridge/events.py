"""A bridge run stream as the relay reads it: frames from MiniMax (a stream or a followed run),
each turned into its OpenAI events by the translator as the relay iterates them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.bridge.frames import Frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.metrics import Metrics
from gateway.stream.events import StreamEvent


class FrameSource(Protocol):
    """Where frames come from: a create_stream response, or a run followed by polling."""

    async def next_batch(self) -> Iterable[Frame] | None:
        """The next frames (maybe none yet); None when the source ended cleanly. Raises GatewayError.
        The frames may be parsed as they are iterated (parse errors then raise from the iteration)."""
        ...

    async def aclose(self) -> None: ...


class FrameEvents:
    """An `EventSource` over a `FrameSource` and the translator that reads it."""

    __slots__ = ("_metrics", "_on_frame", "_source", "prelude", "translator")

    def __init__(
        self,
        source: FrameSource,
        translator: RunStreamTranslator,
        metrics: Metrics,
        prelude: Sequence[StreamEvent] = (),
    ) -> None:
        self._source = source
        self.translator = translator
        self._on_frame = translator.on_frame
        self._metrics = metrics
        self.prelude = prelude

    @property
    def terminal(self) -> bool:
        return self.translator.emitter.terminal

    async def next_batch(self) -> Iterable[Sequence[StreamEvent]] | None:
        batch = await self._source.next_batch()
        return None if batch is None else map(self._on_frame, batch)

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        return self.translator.fail(code, message)

    def finish(self) -> list[StreamEvent]:
        return self.translator.finish()

    async def aclose(self) -> None:
        if (code := self.translator.error_code) is not None:
            self._metrics.upstream_errors.labels(code=str(code)).inc()
        await self._source.aclose()
