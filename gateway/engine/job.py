"""One run executing in this process: its emitter, its chat stream, and the client following it.

The executor's task drives the job; a streaming client reads the job's batches through `RunEvents`
(an `EventSource`). A client that leaves only detaches: the run goes on and is stored, as on
OpenAI's service.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.engine.chunks import ChatStreamDecoder
from gateway.engine.citations import Citations
from gateway.engine.code_input import CodeInput
from gateway.engine.store import Batch
from gateway.schemas.status import RunStatus
from gateway.stream.emitter import RunEmitter
from gateway.stream.events import StreamEvent
from gateway.stream.relay import Sink, TextSink
from gateway.upstream.sse_body import SSEBody

log = logging.getLogger("gateway.engine")
QUEUED_BATCHES = 64  # a slow client holds back the run (and MiniMax's stream) past this many reads
END = None  # the last item a job puts on its queue


class Channel:
    """A job's batches on their way to the client's task: one producer, one consumer, bounded. What
    asyncio.Queue does, without its bookkeeping for many getters and putters (this runs per read)."""

    __slots__ = ("_items", "_limit", "_loop", "_space", "_waiter")

    def __init__(self, limit: int) -> None:
        self._items: deque[list[StreamEvent] | None] = deque()
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None  # the consumer, waiting for an item
        self._space: asyncio.Future[None] | None = None  # the producer, waiting for room

    def empty(self) -> bool:
        return not self._items

    async def put(self, item: list[StreamEvent] | None) -> None:
        while len(self._items) >= self._limit:
            self._space = self._loop.create_future()
            await self._space
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> list[StreamEvent] | None:
        item = self._items.popleft()
        space = self._space
        if space is not None and not space.done():
            space.set_result(None)
        return item

    async def get(self) -> list[StreamEvent] | None:
        while not self._items:
            self._waiter = self._loop.create_future()
            await self._waiter
        return self.get_nowait()


class Job:
    """The state of one executing run (see the module doc)."""

    __slots__ = (
        "batch",
        "caller_key",
        "citations",
        "closing",
        "code_files",
        "code_inputs",
        "decoder",
        "emitter",
        "failure",
        "finish_reason",
        "images",
        "include",
        "markers",
        "opened",
        "paths",
        "queue",
        "run",
        "searches",
        "server_args",
        "sink",
        "stop_reason",
        "stream",
        "task",
        "tenant",
        "tool_names",
        "unread",
        "usage",
    )

    def __init__(
        self,
        tenant: str,
        run: dict[str, Any],
        emitter: RunEmitter,
        caller_key: str,
        batch: Batch,
        closer_only: bool = False,
    ) -> None:
        self.tenant = tenant
        self.batch = batch  # the store writes made by the run's reads, until written (see `record`)
        self.run = run  # the stored run as the job started it
        self.emitter = emitter
        self.caller_key = caller_key
        self.decoder = ChatStreamDecoder(think_closer_only=closer_only)
        self.stream: SSEBody | None = None  # MiniMax's streamed reply, once open
        self.task: asyncio.Task[None] | None = None
        self.queue: Channel | None = None  # to the client following, if any
        # Once attached (`RunEvents.attach`), the client's writer, called from this job's task, what
        # the relay waits on meanwhile (done at the job's end or when the client stops following), and
        # the writer's lane for a read of one text delta.
        self.sink: tuple[Sink, asyncio.Future[None], TextSink] | None = None
        self.tool_names: dict[int, tuple[str, str]] = {}  # call index -> (id, name)
        self.server_args: dict[int, list[str]] = {}  # call index -> argument pieces, of calls served here
        self.searches = 0  # file_search calls served in this run (each one's markers start with it)
        self.include: tuple[str, ...] = ()  # the run request's include[] (file_search results' content)
        self.markers: dict[str, str] = {}  # file_search markers given out in this run -> file ids
        self.citations: Citations | None = None  # the open message's scanner, once markers were given
        self.code_inputs: dict[int, CodeInput] = {}  # call index -> its code, of code_interpreter calls
        self.code_files: list[tuple[str, str]] | None = None  # (file id, name) the session is given
        self.images: list[str] = []  # File ids of images code made, for the next message's content
        self.paths: dict[str, str] = {}  # files code wrote in this run: name in /mnt/data -> File id
        self.finish_reason: str | None = None
        self.failure: Exception | None = None  # MiniMax's error, read after deltas still to go out
        self.unread: list[bytes] = []  # payloads of the read that opened the stream, after its first deltas
        self.usage: dict[str, Any] | None = run.get("usage")  # summed over the run's model calls
        self.stop_reason: tuple[str, str] | None = None  # (cancelled or failed, message) once asked
        self.closing: list[StreamEvent] = []  # closing events made outside the task (a drained stream)
        # Done once MiniMax's stream is open and read to its first delta (or the run ended before):
        # with the rejection as its exception, if MiniMax refused.
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def run_id(self) -> str:
        run_id: str = self.run["id"]
        return run_id

    def follow(self, prelude: Sequence[StreamEvent] = ()) -> RunEvents:
        self.queue = Channel(QUEUED_BATCHES)
        return RunEvents(self, prelude)

    async def publish(self, events: list[StreamEvent]) -> None:
        """Hand a read's events to the client following the run, if one still is: written from this
        task once the relay attached, else queued for the relay's task."""
        if not events:
            return
        if self.sink is not None:
            try:
                if (writing := self.sink[0](events)) is not None:
                    await writing
            except Exception:  # the client's connection failed: it no longer follows; the run goes on
                log.debug("run %s: the client's stream could not be written", self.run_id, exc_info=True)
                self.detach()
        elif self.queue is not None:
            await self.queue.put(events)

    def detach(self) -> list[StreamEvent]:
        """The client stops following: what it had not read yet, and the job no longer waits on it."""
        self._release()
        queue, self.queue = self.queue, None
        left: list[StreamEvent] = []
        while queue is not None and not queue.empty():
            left.extend(queue.get_nowait() or ())
        return left

    async def end(self) -> None:
        """No more events: the client's stream ends after what it has not read yet."""
        if self.sink is not None:
            self._release()
        elif self.queue is not None:
            await self.queue.put(END)

    def _release(self) -> None:
        """Let the relay waiting on the attached sink go on (to the stream's end)."""
        sink, self.sink = self.sink, None
        if sink is not None and not sink[1].done():
            sink[1].set_result(None)

    def stop(self, status: str, message: str) -> None:
        """Ask the running task to end the run (`cancelled`, or `failed` with `message`)."""
        if self.stop_reason is None and self.task is not None and not self.task.done():
            self.stop_reason = (status, message)
            self.task.cancel()


class RunEvents:
    """A job's events as the relay reads them: one batch per upstream read, in order."""

    __slots__ = ("_job", "prelude", "terminal")

    def __init__(self, job: Job, prelude: Sequence[StreamEvent] = ()) -> None:
        self._job = job
        self.prelude = prelude
        self.terminal = False

    def opening(self) -> asyncio.Future[None]:
        return self._job.opened

    @staticmethod
    def translate(unit: Sequence[StreamEvent]) -> Sequence[StreamEvent]:
        return unit  # a unit is one read's events, made by the job's task

    def attach(self, sink: Sink, text: TextSink) -> asyncio.Future[None] | None:
        """From now the job's task writes each read's events through `sink`, or `text` for a read of one
        text delta (see `EventSource.attach`); None while batches wait in the queue (the relay takes
        those first) or the job already ended."""
        job = self._job
        queue = job.queue
        if queue is None or not queue.empty() or job.task is None or job.task.done():
            return None
        done = asyncio.get_running_loop().create_future()
        job.sink = (sink, done, text)
        return done

    async def next_batch(self) -> Iterable[Sequence[StreamEvent]] | None:
        queue = self._job.queue
        batch = None if queue is None else await queue.get()
        if batch is END:
            return None
        return (batch,)

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        """The gateway is shutting down under this stream: the run fails, the client gets what was
        queued and the terminal event (the job's task stores the same end)."""
        job = self._job
        left = job.detach()
        if job.emitter.terminal:
            return left
        job.stop(RunStatus.FAILED, message)
        job.closing = job.emitter.fail(code, message)
        return left + job.closing

    def finish(self) -> list[StreamEvent]:
        return [] if self._job.emitter.terminal else self.fail("server_error", "The run ended unexpectedly")

    async def aclose(self) -> None:
        self._job.detach()
