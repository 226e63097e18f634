"""Reads taken where they land (`gateway/engine/reads.py`): while a client follows its run, MiniMax's
reads are decoded, turned into events and written in the connection's callback, and the run streams and
stores exactly what it does when the job's task takes every read itself: the same run both ways, in every
chat dialect, paced so that the reply comes in many reads, with a tool call too, and with writes the
client's server makes wait; in the context of the read's own request, over connections to MiniMax kept
alive from run to run. `run_now`, which runs a write in a plain call, on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gateway.engine import reads
from gateway.engine.executor import Executor
from gateway.engine.job import Job, RunEvents
from gateway.logs import request_id
from gateway.stream import response
from gateway.stream.events import TextDelta
from gateway.stream.relay import Sink, TextSink
from gateway.upstream.sse_body import SSEBody
from tests.engine.dialects import DIALECTS
from tests.engine.helpers_e2e import Stack, assistant, post_events, stack, thread
from tests.engine.helpers_lifecycle import WEATHER
from tests.engine.test_read_fast_path import _run

PACE_MS = 2.0  # a chunk every 2 ms: a read per chunk or two


@pytest.fixture(scope="module", params=list(DIALECTS))
def paced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = dataclasses.replace(DIALECTS[request.param], pace_ms=PACE_MS)
    extra = {"think_closer_only": True} if config.chat_thinking == "closer_only" else {}
    with stack(config, Path(tmp_path_factory.mktemp(request.param)), keep_alive=True, **extra) as s:
        yield s


class ReadCounts:
    """Counts the reads of the streaming reply (`Executor._take`, and the reads of one plain answer
    piece sent through the relay's text lane instead; the opening's reads, up to the first delta, are
    the task's in every case and not counted) taken in the connection's callback, where no task runs,
    and by the job's task."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.in_callback = 0
        self.by_task = 0
        self.lane = 0  # of those in the callback, the reads sent through the text lane
        take, attach = Executor._take, RunEvents.attach

        def counted(executor: Executor, job: Job, payloads: list[bytes], events: list[Any]) -> None:
            if asyncio.current_task() is None:
                self.in_callback += 1
            else:
                self.by_task += 1
            take(executor, job, payloads, events)

        def attach_counted(source: RunEvents, sink: Sink, text: TextSink) -> Any:
            def lane(delta: TextDelta) -> Any:
                if asyncio.current_task() is None:
                    self.in_callback += 1
                    self.lane += 1
                else:
                    self.by_task += 1
                return text(delta)

            return attach(source, sink, lane)

        monkeypatch.setattr(Executor, "_take", counted)
        monkeypatch.setattr(RunEvents, "attach", attach_counted)


def _by_task_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor without `reads.until_needed`: the job's task takes every read."""

    async def task_reads(self: Executor, job: Job, stream: SSEBody) -> list[bytes] | None:
        return await stream.next_payloads()

    monkeypatch.setattr(Executor, "_next", task_reads)


@pytest.mark.parametrize(
    ("text", "fields", "answer"),
    [
        ("Tell me a long story about the sea and its ships, please.", {}, True),
        ("What is the weather in Paris? Use get_weather.", {"tools": [WEATHER]}, False),
    ],
    ids=["answer", "tool-call"],
)
def test_reads_taken_in_the_callback_stream_and_store_what_the_task_does(
    paced: Stack, monkeypatch: pytest.MonkeyPatch, text: str, fields: dict[str, Any], answer: bool
) -> None:
    key = paced.key()  # one tenant: the emulator's deterministic model answers both runs alike
    with monkeypatch.context() as m:
        counts = ReadCounts(m)
        taken = _run(paced, key, text, **fields)
    # Most reads never woke the task: it read only until the client's stream was attached.
    assert counts.in_callback >= 5 and counts.by_task * 5 <= counts.in_callback, vars(counts)
    if answer:  # a read of one answer piece went out through the text lane, where the task sends none
        assert counts.lane >= 5, vars(counts)
    with monkeypatch.context() as m:
        _by_task_only(m)
        counts = ReadCounts(m)
        by_task = _run(paced, key, text, **fields)
    assert counts.in_callback == 0 and counts.by_task >= 5 and counts.lane == 0, vars(counts)
    assert taken == by_task
    assert [name for name, _ in taken[0]][-1] in ("thread.run.completed", "thread.run.requires_action")


def test_writes_the_client_makes_wait_keep_the_stream_whole_and_in_order(
    paced: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every third write to the client waits (as under its server's flow control: the plain write is
    refused, and the write through the server waits): the reader hands it to the task, the reads after it
    wait in the response, and nothing is lost, doubled or reordered."""
    key = paced.key()
    text = "Tell me a long story about the sea and its ships, please."
    write, write_now, written = response._Connection.write, response._Connection.write_now, reads.written
    handed: list[int] = []
    calls = [0]

    def refused(conn: Any, chunk: bytes) -> bool:
        calls[0] += 1
        return calls[0] % 3 != 0 and write_now(conn, chunk)

    async def waiting_write(conn: Any, chunk: bytes, last: bool = False) -> None:
        await asyncio.sleep(0.003)
        await write(conn, chunk, last)

    async def counted(job: Job, rest: Any) -> None:
        handed.append(1)
        await written(job, rest)

    with monkeypatch.context() as m:
        m.setattr(response._Connection, "write_now", refused)
        m.setattr(response._Connection, "write", waiting_write)
        m.setattr(reads, "written", counted)
        waited = _run(paced, key, text)
    assert len(handed) >= 3, (handed, calls)
    with monkeypatch.context() as m:
        _by_task_only(m)
        by_task = _run(paced, key, text)
    assert waited == by_task


def test_reads_in_the_callback_run_in_the_context_of_their_request(
    paced: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Log lines made while a read is taken in the callback carry the request's id (`request_id`), not
    that of the request whose run opened the kept-alive connection to MiniMax (the run before)."""
    seen: list[str] = []
    take = Executor._take

    def noting(executor: Executor, job: Job, payloads: list[bytes], events: list[Any]) -> None:
        if asyncio.current_task() is None:
            seen.append(request_id.get())
        take(executor, job, payloads, events)

    key = paced.key()
    for rid in ("req-before", "req-checked"):
        seen.clear()
        with monkeypatch.context() as m, paced.http(key) as client:
            m.setattr(Executor, "_take", noting)
            client.headers["x-request-id"] = rid
            tid = thread(client, "Tell me a long story about the sea and its ships, please.")
            post_events(client, f"/threads/{tid}/runs", {"assistant_id": assistant(client)})
        assert len(seen) >= 5 and set(seen) == {rid}, (rid, set(seen))
        time.sleep(0.3)  # the run's task ends and its connection to MiniMax goes back to the pool


class _Stream:
    """A body whose reads the test hands in: `arrive()` is the connection's callback."""

    def __init__(self) -> None:
        self.reads: list[list[bytes]] = []
        self.listener: Any = None

    def now(self) -> list[bytes] | bool:
        return self.reads.pop(0) if self.reads else False

    def listen(self, listener: Any) -> None:
        self.listener = listener

    def arrive(self, payloads: list[bytes]) -> None:
        self.reads.append(payloads)
        self.listener()


@pytest.mark.asyncio
async def test_a_read_handed_over_when_the_task_is_cancelled_still_goes_out() -> None:
    """The callback takes a read whose failure needs the task (its events made by the emitter) and the
    task is cancelled (a stop, the run's timeout) before it takes it: the events are still published,
    as the task's own path publishes a read's events when it is cancelled, and no reader stays."""
    published: list[list[Any]] = []

    async def publish(events: list[Any]) -> None:
        published.append(events)

    job: Any = SimpleNamespace(
        batch=SimpleNamespace(due=False), failure=None, sink=None, run_id="run_x", publish=publish
    )
    delta = TextDelta(b"head", "piece")

    def take(payloads: list[bytes], events: list[Any]) -> None:
        events.append(delta)
        job.failure = ValueError("the next chunk cannot be read")

    stream = _Stream()
    task = asyncio.ensure_future(reads.until_needed(job, cast(SSEBody, stream), take))
    await asyncio.sleep(0)  # waiting: nothing arrived yet
    assert stream.listener is not None and published == []
    stream.arrive([b"{}"])  # handed over (the failure needs the task) ...
    task.cancel()  # ... and the task cancelled before it took it
    with pytest.raises(asyncio.CancelledError):
        await task
    assert published == [[delta]]
    assert stream.listener is None


# -- run_now ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_run_now_runs_a_coroutine_that_does_not_wait_in_the_call() -> None:
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    assert reads.run_now(write()) is None
    assert done == ["written"]


@pytest.mark.asyncio
async def test_run_now_hands_back_the_rest_of_a_coroutine_that_waits() -> None:
    gate = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def write() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield too
        steps.append("after")

    rest = reads.run_now(write())
    assert rest is not None and steps == ["before"]
    finishing = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert not finishing.done()
    gate.set_result("opened")
    await finishing
    assert steps == ["before", "opened", "after"]


@pytest.mark.asyncio
async def test_run_now_raises_what_the_coroutine_raises_before_and_after_waiting() -> None:
    async def broken() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        reads.run_now(broken())

    gate = asyncio.get_running_loop().create_future()

    async def broken_later() -> None:
        await gate

    rest = reads.run_now(broken_later())
    assert rest is not None
    gate.set_exception(ConnectionResetError("gone later"))
    with pytest.raises(ConnectionResetError, match="gone later"):
        await rest


@pytest.mark.asyncio
async def test_a_cancelled_rest_closes_the_coroutine_it_finishes() -> None:
    gate = asyncio.get_running_loop().create_future()
    closed: list[bool] = []

    async def write() -> None:
        try:
            await gate
        finally:
            closed.append(True)

    rest = reads.run_now(write())
    assert rest is not None
    finishing = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    finishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finishing
    assert closed == [True]
