"""The relay loop: whatever goes wrong, a stream ends with a terminal event and `done`."""

from __future__ import annotations

import asyncio
import itertools
import logging

import anyio
import pytest

from gateway.bridge.events import FrameEvents
from gateway.bridge.frames import Frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.errors import UpstreamTimeout
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.stream.relay import relay
from tests.stream_checks import parse_sse


class Source:
    def __init__(self, batches: list[list[Frame]], then: Exception | None = None) -> None:
        self.batches = batches
        self.then = then
        self.closed = False

    async def next_batch(self) -> list[Frame] | None:
        if self.batches:
            return self.batches.pop(0)
        if self.then is not None:
            raise self.then
        return None

    async def aclose(self) -> None:
        self.closed = True


class Broken(RunStreamTranslator):
    def on_frame(self, frame: Frame) -> list:  # type: ignore[type-arg]
        if frame.kind == "message":
            raise KeyError("a translator bug")
        return super().on_frame(frame)


RUN = Frame("run", {"id": "run_1", "status": "in_progress"})
MESSAGE = Frame(
    "message", {"id": "msg_1", "role": "ai", "content": [{"type": "text", "text": {"value": "Hi"}}]}
)


async def always_ready() -> bool:
    return True


NO_STOP = -1.0


def run_relay(
    source: Source,
    translator_type: type[RunStreamTranslator] = RunStreamTranslator,
    stop_after: float | None = NO_STOP,
) -> bytes:
    """Relay `source` to bytes. `stop_after`: a drain stops the stream before the relay starts
    (None) or after that many seconds."""
    counter = itertools.count()
    translator = translator_type({"thread_id": "t"}, new_id=lambda p: f"{p}{next(counter)}", clock=lambda: 1)
    out: list[bytes] = []

    async def write(chunk: bytes, last: bool = False) -> None:
        out.append(chunk)

    async def main() -> None:
        handle = Lifecycle(10, always_ready, 1).open_stream()
        if stop_after is None:
            handle.stop()
        elif stop_after >= 0:
            asyncio.get_running_loop().call_later(stop_after, handle.stop)
        metrics = Metrics()
        await relay(FrameEvents(source, translator, metrics), metrics, write, handle)

    anyio.run(main)
    assert source.closed
    return b"".join(out)


def test_a_clean_source_completes() -> None:
    events = parse_sse(run_relay(Source([[RUN], [MESSAGE]])))
    assert events[-1][0] == "thread.run.completed"


def test_an_upstream_error_fails_the_run() -> None:
    events = parse_sse(run_relay(Source([[RUN, MESSAGE]], then=UpstreamTimeout("MiniMax went quiet"))))
    assert events[-1][0] == "thread.run.failed"
    assert events[-1][1]["last_error"]["message"] == "MiniMax went quiet"


def test_a_translator_bug_still_ends_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    events = parse_sse(run_relay(Source([[RUN], [MESSAGE]]), Broken))
    assert events[-1][0] == "thread.run.failed"
    assert "translating a stream failed" in caplog.text


def test_events_translated_before_a_bug_in_the_same_read_are_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    events = parse_sse(run_relay(Source([[RUN, MESSAGE]]), Broken))
    names = [name for name, _ in events]
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-1] == "thread.run.failed"
    assert names.count("thread.run.created") == 1


def test_frames_parsed_lazily_are_all_relayed_in_order() -> None:
    texts = [f"piece {i} " for i in range(50)]
    frames = (
        Frame("message", {"id": "msg_1", "role": "ai", "content": [{"type": "text", "text": {"value": t}}]})
        for t in texts
    )

    class Lazy(Source):
        async def next_batch(self) -> list[Frame] | None:  # an iterator, as UpstreamStream returns
            batch = await super().next_batch()
            return None if batch is None else iter(batch)  # type: ignore[return-value]

    events = parse_sse(run_relay(Lazy([[RUN], list(frames)])))
    deltas = [d["delta"]["content"][0]["text"]["value"] for n, d in events if n == "thread.message.delta"]
    assert "".join(deltas) == "".join(texts)


class Stalled(Source):
    async def next_batch(self) -> list[Frame] | None:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(30)  # MiniMax goes quiet; only a drain ends this
        return None


@pytest.mark.parametrize("stop_after", [None, 0.2])
def test_a_drained_stream_ends_failed_with_done(stop_after: float | None) -> None:
    raw = run_relay(Stalled([[RUN, MESSAGE]]), stop_after=stop_after)
    events = parse_sse(raw)
    assert events[-1][0] == "thread.run.failed"
    assert "shut down" in events[-1][1]["last_error"]["message"]
    assert raw.endswith(b"event: done\ndata: [DONE]\n\n")
