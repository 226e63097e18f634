"""The relay with a source that has a producer task of its own (the engine's runs): batches queued before
the relay attached go out first, from the relay's task; every later batch is written by the producer's
task itself (no hand-off per read); the prelude goes out with the first batch; the stream still ends
with the closing events and `done`, once the producer says it has ended."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.stream.events import Event, StreamEvent, TextDelta, text_delta_head
from gateway.stream.relay import Sink, TextSink, relay
from gateway.stream.sse import DONE, encode_into


def _event(n: int) -> StreamEvent:
    return Event(f"thread.message.delta.{n}", {"n": n})


def _delta(n: int) -> TextDelta:
    return TextDelta(text_delta_head("msg_1", 0), f"piece {n}")


class Produced:
    """An `EventSource` whose producer task makes `count` batches; the first `queued` wait in a queue
    for the relay's task, the rest go through the attached sink (with `lane`, each batch is one text
    delta, sent through the sink's text lane)."""

    def __init__(self, count: int, queued: int, lane: bool = False) -> None:
        self.prelude = [Event("thread.created", {"id": "thread_1"})]
        self.terminal = False
        self.count, self.queued, self.lane = count, queued, lane
        self.unit = _delta if lane else _event
        self.queue: list[list[StreamEvent]] = [[self.unit(n)] for n in range(queued)]  # made before the relay
        self.sink: Sink | None = None
        self.text: TextSink | None = None
        self.ended: asyncio.Future[None] | None = None
        self.producer: asyncio.Task[None] | None = None

    @staticmethod
    def translate(unit: Any) -> Any:
        return unit

    def opening(self) -> asyncio.Future[None]:
        opened = asyncio.get_running_loop().create_future()
        opened.set_result(None)
        return opened

    async def produce(self) -> None:
        for n in range(self.queued, self.count):
            await asyncio.sleep(0)
            if self.sink is None or self.text is None:
                self.queue.append([self.unit(n)])
            elif (writing := self.text(_delta(n)) if self.lane else self.sink([_event(n)])) is not None:
                await writing
        self.terminal = True
        if self.ended is not None:
            self.ended.set_result(None)

    def attach(self, sink: Sink, text: TextSink) -> asyncio.Future[None] | None:
        """As the engine's: not while batches wait in the queue."""
        if self.queue:
            return None
        self.sink, self.text = sink, text
        self.ended = asyncio.get_running_loop().create_future()
        if self.terminal:
            self.ended.set_result(None)
        return self.ended

    async def next_batch(self) -> Any:
        while not self.queue:
            if self.terminal:
                return None
            await asyncio.sleep(0)
        return [self.queue.pop(0)]

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        raise AssertionError(f"the relay failed the stream: {code} {message}")

    def finish(self) -> list[StreamEvent]:
        return [Event("thread.run.completed", {"id": "run_1"})]

    async def aclose(self) -> None:
        pass


def _relay(source: Produced) -> tuple[list[tuple[bytes, bool, Any]], Any]:
    writes: list[tuple[bytes, bool, Any]] = []
    metrics = Metrics()

    async def write(chunk: bytes, last: bool = False) -> None:
        writes.append((chunk, last, asyncio.current_task()))

    async def main() -> None:
        source.producer = asyncio.create_task(source.produce())
        await relay(source, metrics, write, Lifecycle(1, _ready, 1).open_stream())
        await source.producer

    asyncio.run(main())
    return writes, metrics


async def _ready() -> bool:
    return True


def test_the_producer_writes_its_batches_itself_after_the_queued_ones() -> None:
    source = Produced(count=6, queued=2)
    writes, metrics = _relay(source)
    chunks = [chunk for chunk, _, _ in writes]
    expected = [
        b"".join(encode_into([*source.prelude, _event(0)], [])),
        b"".join(encode_into([_event(1)], [])),
        *(b"".join(encode_into([_event(n)], [])) for n in range(2, 6)),
        b"".join(encode_into(source.finish(), [])) + DONE,
    ]
    assert b"".join(chunks) == b"".join(expected)
    assert [last for _, last, _ in writes] == [False] * (len(writes) - 1) + [True]
    by_producer = [chunk for chunk, _, task in writes if task is source.producer]
    # The queued batches went out from the relay's task; from the attach on, the producer wrote the rest.
    assert len(by_producer) >= 3 and by_producer == expected[6 - len(by_producer) : 6]
    assert all(task is not source.producer for _, _, task in writes[:2])
    assert metrics.registry.get_sample_value("gateway_upstream_frames_total") == 6
    assert metrics.registry.get_sample_value("gateway_events_total") == 1 + 6 + 1


def test_the_prelude_goes_out_with_the_producers_first_batch() -> None:
    source = Produced(count=3, queued=0)
    writes, _ = _relay(source)
    first, _, task = writes[0]
    assert task is source.producer
    assert first == b"".join(encode_into([*source.prelude, _event(0)], []))
    assert writes[-1][0].endswith(DONE) and writes[-1][1]


def test_the_text_lane_writes_what_the_sink_writes_of_the_same_delta() -> None:
    """A batch of one text delta through the lane: the bytes `sink([delta])` would write (the prelude
    with the first), from the producer's task, counted as a unit and an event."""
    source = Produced(count=5, queued=1, lane=True)
    writes, metrics = _relay(source)
    expected = [
        b"".join(encode_into([*source.prelude, _delta(0)], [])),
        *(b"".join(encode_into([_delta(n)], [])) for n in range(1, 5)),
        b"".join(encode_into(source.finish(), [])) + DONE,
    ]
    assert [chunk for chunk, _, _ in writes] == expected
    assert [task is source.producer for _, _, task in writes[:5]] == [False] + [True] * 4
    assert metrics.registry.get_sample_value("gateway_upstream_frames_total") == 5
    assert metrics.registry.get_sample_value("gateway_events_total") == 1 + 5 + 1


def test_the_text_lane_carries_the_prelude_when_it_writes_first() -> None:
    source = Produced(count=3, queued=0, lane=True)
    writes, _ = _relay(source)
    assert writes[0][0] == b"".join(encode_into([*source.prelude, _delta(0)], []))
    assert writes[0][2] is source.producer
    assert b"".join(chunk for chunk, _, _ in writes[1:3]) == b"".join(encode_into([_delta(1), _delta(2)], []))
