"""Time each inlined copy on the stream hot path against the general path it stands in for.

    .venv/bin/python -m tests.bench.fast_paths [--frames 20000] [--cumulative-frames 5000]
                                               [--repeat 7] [--copy 1 --copy 4]

Each workload is one run's MiniMax frames, decoded by `parse_frame` beforehand (as the bridge does,
typed `MessageData`), then timed through translator + relay into an in-memory write: once with
production code, once with one copy switched to the production general path it hands other inputs
to (`RunStreamTranslator.on_frame_general`, `MessageStream.apply_general`,
`TextAccumulator.push_general`). The engine's chat decoder (`ChatStreamDecoder.answer`, copy 5) is
timed alone on bench-shaped chunks (`upstream_chat.py`), `feed` against `feed_general`. Best of
`--repeat` runs each, interleaved in alternating order, the garbage collector off while timing;
both must write the same bytes. The saving is the share of the general path's time per frame that
the copy takes off. That time leaves out what every frame costs besides (reading the socket, SSE
decoding, parsing, the socket write), so a copy's share of the gateway's real per-frame cost is
smaller still. Not collected by pytest (no `test_` prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any, NamedTuple
from unittest.mock import patch

import orjson

from gateway.bridge.events import FrameEvents
from gateway.bridge.frames import Frame, parse_frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.engine.chunks import ChatStreamDecoder
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.stream.message import MessageStream
from gateway.stream.relay import relay
from gateway.stream.text import TextAccumulator
from tests.bench.upstream_chat import ChatFrames

RUN = {"id": "run_1", "object": "run", "thread_id": "thread_1", "assistant_id": "asst_1"}
STEP = {"id": "step_1", "object": "run step", "run_id": "run_1", "type": "message_creation"}
WORDS = ("The ", "quic", "k br", "own ", "fox ", "jump", "s ov", "er t", "he l", "azy ", "dög ", "🌍 ab")


def wire(data: dict[str, Any]) -> bytes:
    return orjson.dumps({"data": data, "base_resp": {"status_code": 0, "status_msg": "success"}})


def message(value: str, role: str = "ai") -> bytes:
    content = [{"type": "text", "text": {"value": value, "annotations": []}}]
    return wire({"id": "msg_1", "object": "message", "role": role, "run_id": "run_1", "content": content})


def stream(frames: int, cumulative: bool) -> list[Frame]:
    """A run as MiniMax streams it: run and step frames around `frames` message frames of 4-char
    pieces (or the running total, `cumulative`), decoded."""
    pieces = [WORDS[i % len(WORDS)] for i in range(frames)]
    values = itertools.accumulate(pieces) if cumulative else iter(pieces)
    payloads = [
        wire({**RUN, "status": "queued"}),
        wire({**RUN, "status": "in_progress"}),
        message("Hello", role="user"),
        wire({**STEP, "status": "in_progress"}),
        *(message(value) for value in values),
        wire({**STEP, "status": "completed"}),
        wire({**RUN, "status": "completed"}),
    ]
    decoded = [parse_frame(p) for p in payloads]
    assert all(f is not None for f in decoded)
    return decoded  # type: ignore[return-value]


@contextmanager
def general_paths(*paths: tuple[type, str]) -> Iterator[None]:
    """While open, each (class, method) is its production general path (`method`_general)."""
    with ExitStack() as stack:
        for cls, method in paths:
            stack.enter_context(patch.object(cls, method, getattr(cls, f"{method}_general")))
        yield


class Path(NamedTuple):
    """What runs a workload: the relay, and the general paths switched in."""

    relay: Callable[..., Any]
    paths: Callable[[], AbstractContextManager[None]]


TRANSLATOR = (RunStreamTranslator, "on_frame")
MESSAGE = (MessageStream, "apply")
TEXT = (TextAccumulator, "push")
PRODUCTION = Path(relay, nullcontext)
COPIES = {  # the copy -> its general path
    "2 RunStreamTranslator.on_frame hot path": Path(relay, lambda: general_paths(TRANSLATOR)),
    "3 MessageStream.apply single item": Path(relay, lambda: general_paths(MESSAGE)),
    "4 TextAccumulator.push fast append": Path(relay, lambda: general_paths(TEXT)),
    "all three": Path(relay, lambda: general_paths(TRANSLATOR, MESSAGE, TEXT)),
}


class Reads:
    """A `FrameSource` handing out the decoded frames, `per_read` at a time."""

    def __init__(self, frames: list[Frame], per_read: int) -> None:
        self._reads: Iterator[list[Frame]] = iter(
            [frames[i : i + per_read] for i in range(0, len(frames), per_read)]
        )

    async def next_batch(self) -> list[Frame] | None:
        return next(self._reads, None)

    async def aclose(self) -> None:
        pass


async def _ready() -> bool:
    return True


def timed(path: Path, frames: list[Frame], per_read: int) -> tuple[int, str]:
    """Nanoseconds to relay `frames` through `path`, and a digest of the bytes written."""
    chunks: list[bytes] = []

    async def write(chunk: bytes, last: bool = False) -> None:
        chunks.append(chunk)

    async def main() -> int:
        counter = itertools.count()
        translator = RunStreamTranslator(
            {"thread_id": "thread_1"}, new_id=lambda p: f"{p}{next(counter)}", clock=lambda: 1700000000
        )
        metrics = Metrics()
        handle = Lifecycle(1, _ready, 1).open_stream()
        with path.paths():
            source = FrameEvents(Reads(frames, per_read), translator, metrics)  # (binds `on_frame`)
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                await path.relay(source, metrics, write, handle)
                return time.perf_counter_ns() - start
            finally:
                gc.enable()

    elapsed = asyncio.run(main())
    return elapsed, hashlib.sha256(b"".join(chunks)).hexdigest()


class Figures(NamedTuple):
    copy_us: float  # best µs per frame, with the copy (production)
    general_us: float  # best µs per frame, general path
    copy_median: float
    general_median: float

    @property
    def saving(self) -> float:
        return 100 * (self.general_us - self.copy_us) / self.general_us


def compare(general: Path, frames: list[Frame], per_read: int, repeat: int) -> Figures:
    runs: dict[Path, list[float]] = {PRODUCTION: [], general: []}
    digests = set()
    for i in range(repeat):
        for path in (PRODUCTION, general)[:: 1 if i % 2 else -1]:  # interleaved: drift hits both alike
            ns, digest = timed(path, frames, per_read)
            runs[path].append(ns / 1000 / len(frames))
            digests.add(digest)
    assert len(digests) == 1, "the copy and the general path wrote different bytes"
    copy_runs, general_runs = runs[PRODUCTION], runs[general]
    return Figures(
        min(copy_runs), min(general_runs), statistics.median(copy_runs), statistics.median(general_runs)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="message frames, incremental streams")
    parser.add_argument("--cumulative-frames", type=int, default=5_000, help="message frames, cumulative")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--copy", action="append", help="only the copies whose name starts with this")
    args = parser.parse_args()
    workloads = {
        f"incremental, {args.frames} frames, 1 per read": (stream(args.frames, False), 1),
        f"incremental, {args.frames} frames, 16 per read": (stream(args.frames, False), 16),
        f"cumulative, {args.cumulative_frames} frames, 1 per read": (stream(args.cumulative_frames, True), 1),
    }
    print(f"best of {args.repeat} (median in brackets), µs per frame, translator + relay")
    chosen = {n: g for n, g in COPIES.items() if not args.copy or n.startswith(tuple(args.copy))}
    for workload, (frames, per_read) in workloads.items() if chosen else ():
        print(f"\n{workload}")
        print(f"  {'copy':42} {'with copy':>17} {'general path':>17} {'saving':>8}")
        for name, general in chosen.items():
            f = compare(general, frames, per_read, args.repeat)
            print(
                f"  {name:42} {f.copy_us:7.3f} [{f.copy_median:7.3f}] {f.general_us:7.3f} "
                f"[{f.general_median:7.3f}] {f.saving:7.1f}%"
            )
    if not args.copy or "5".startswith(tuple(args.copy)):
        f = decoder_figures(chat_payloads(args.frames), args.repeat)
        print(f"\nengine chat decoder, {args.frames} answer chunks, µs per chunk (decoder alone)")
        print(
            f"  {'5 ChatStreamDecoder.answer':42} {f.copy_us:7.3f} [{f.copy_median:7.3f}] "
            f"{f.general_us:7.3f} [{f.general_median:7.3f}] {f.saving:7.1f}%"
        )


def chat_payloads(chunks: int) -> list[bytes]:
    """The `data:` payloads of one bench chat stream (4 reasoning chunks, `chunks` answer pieces, usage)."""
    frames = ChatFrames(chunks, reasoning_split=True)
    body = frames.preamble + b"".join(frames.message(b"t%d|" % i, i == chunks - 1) for i in range(chunks))
    return [line[6:] for line in body.split(b"\n") if line.startswith(b"data: ")]


def decoder_figures(payloads: list[bytes], repeat: int) -> Figures:
    runs: dict[str, list[float]] = {"feed": [], "feed_general": []}
    outputs = set()
    for i in range(repeat):
        for name in ("feed", "feed_general")[:: 1 if i % 2 else -1]:
            feed = getattr(ChatStreamDecoder(), name)
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                out = [feed(p) for p in payloads]
                runs[name].append((time.perf_counter_ns() - start) / 1000 / len(payloads))
            finally:
                gc.enable()
            outputs.add(repr(out))
    assert len(outputs) == 1, "the fast path and the general path decoded differently"
    fast, general = runs["feed"], runs["feed_general"]
    return Figures(min(fast), min(general), statistics.median(fast), statistics.median(general))


if __name__ == "__main__":
    main()
