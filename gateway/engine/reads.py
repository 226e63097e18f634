"""Reads taken where they land. While a client follows a run from the job's task (its sink attached),
each upstream read is decoded, turned into events and written to the client inside the connection's
own callback (`h1.Response.listener`), in plain calls, instead of waking the job's task for it: no
future, task step or coroutine of the executor's loop per read. The task waits once, until a read
needs it, and gets that read handed over (`until_needed`):

- `END`: the body ended (everything before it was taken and written);
- `(events, due)`: a read whose events wait on a store write (`due`: a message or step opened or
  closed) or on its failure (`job.failure`); the task writes and publishes them as for any read;
- a coroutine: the rest of a write the client could not take at once (its server's flow control),
  for the task to await; reads wait in the response meanwhile, which stops reading past its limit;
- None: the client no longer follows from the task (it left): reads go back to the task.

A read of one plain piece of answer text while the message is open (each of MiniMax's chunks at its
pace) goes a shorter way: the decoder's `answer`, the message's `append_text`, then the relay's text
lane (`TextSink`). That is what `Executor._take`, `note` and the sink do with such a read, less the
read's event list, the store's look at it (a text delta stores nothing) and the encoder's loop.

A read is taken in the context of the job's task (its log lines carry the request's id), and what
the callback raises is raised in the task, as the read it came from would have been there.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from gateway.engine.job import Job
from gateway.engine.record import note
from gateway.stream.events import StreamEvent
from gateway.upstream.sse_body import SSEBody

log = logging.getLogger("gateway.engine")

Take = Callable[[list[bytes], list[StreamEvent]], None]
"""A read's payloads into events (`Executor._take` for the job)."""


class End:
    """The body ended (`until_needed`)."""


END: Final = End()
Rest = Coroutine[Any, Any, None] | None
"""The rest of a write the client could not take at once, or None once written."""
Handed = tuple[list[StreamEvent], bool] | Rest | End


async def until_needed(job: Job, stream: SSEBody, take: Take) -> Handed:
    """Take `stream`'s reads in its connection's callback until one needs the job's task: what is
    handed over (see the module doc)."""
    reader = _Reader(job, stream, take)
    stream.listen(functools.partial(contextvars.copy_context().run, reader.read))
    try:
        reader.read()  # what arrived since the task's last read
        return await reader.handed
    except asyncio.CancelledError:
        await reader.drop()  # (reads arriving meanwhile wait: the reader takes none once it handed over)
        raise
    finally:
        stream.listen(None)


async def written(job: Job, rest: Coroutine[Any, Any, None]) -> None:
    """The rest of a write handed over: a failed one detaches the client, as `Job.publish` does."""
    try:
        await rest
    except Exception:
        log.debug("run %s: the client's stream could not be written", job.run_id, exc_info=True)
        job.detach()


class _Reader:
    __slots__ = ("handed", "job", "stream", "take")

    def __init__(self, job: Job, stream: SSEBody, take: Take) -> None:
        self.job = job
        self.stream = stream
        self.take = take
        self.handed: asyncio.Future[Handed] = asyncio.get_running_loop().create_future()

    def read(self) -> None:
        """Whatever the response holds now, read by read, until one needs the task (a read of one plain
        answer piece through the text lane, see the module doc)."""
        handed, job, stream = self.handed, self.job, self.stream
        if handed.done():  # handed over: the rest waits in the response for the task
            return
        try:
            while (payloads := stream.now()) is not False:
                if payloads is None:
                    handed.set_result(END)
                    return
                if (
                    (sink := job.sink) is not None
                    and (message := job.emitter.message) is not None
                    and len(payloads) == 1
                    and job.citations is None
                    and (piece := job.decoder.answer(payloads[0])) is not None
                ):
                    rest = _send(job, sink[2], message.append_text(piece))
                else:
                    events: list[StreamEvent] = []
                    self.take(payloads, events)
                    due = note(job, events, job.batch)
                    if due or job.failure is not None:
                        handed.set_result((events, due))
                        return
                    if not events:
                        continue
                    rest = _publish(job, events)
                if rest is not None or job.sink is None:
                    handed.set_result(rest)
                    return
        except Exception as exc:
            handed.set_exception(exc)

    async def drop(self) -> None:
        """The task was cancelled with a read handed over and not taken: its events still go out (the
        emitter made them: the client's text must equal what the run's end stores), as the task's own
        path sends a read's events when its store write is cancelled; a write left over is closed."""
        handed = self.handed
        if not handed.done() or handed.cancelled() or handed.exception() is not None:
            return
        rest = handed.result()
        if isinstance(rest, tuple):
            await self.job.publish(rest[0])
        elif isinstance(rest, Coroutine):
            rest.close()


def _publish(job: Job, events: list[StreamEvent]) -> Rest:
    """`Job.publish` in a plain call: None once written (or if nobody follows from here any more),
    else the rest of the write."""
    if job.sink is None:
        return None  # detached: nobody follows from this task, as `publish` would find
    return _send(job, job.sink[0], events)


def _send(job: Job, send: Callable[[Any], Awaitable[None] | None], item: Any) -> Rest:
    """`send(item)` (the sink, or its text lane) in a plain call: None once written, else the rest of
    the write. A write that fails detaches the client, as in `Job.publish`."""
    try:
        writing = send(item)  # None: written already
        return None if writing is None else run_now(writing)  # type: ignore[arg-type]  # a coroutine
    except Exception:  # the client's connection failed
        log.debug("run %s: the client's stream could not be written", job.run_id, exc_info=True)
        job.detach()
        return None


def run_now(coro: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None] | None:
    """Run `coro` in this plain call until it ends (None) or waits on a future: then a coroutine that
    finishes it, to await in a task. What a task's first step does, without the task."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    if getattr(waiting, "_asyncio_future_blocking", None) is not None:
        waiting._asyncio_future_blocking = False  # taken, as a task takes it (else not awaitable again)
    return _finish(coro, waiting)


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """The rest of a coroutine `run_now` left waiting on the future `waiting`."""
    try:
        while True:
            try:
                if waiting is None:  # a bare `yield` (`asyncio.sleep(0)`): a turn of the loop
                    await asyncio.sleep(0)
                else:
                    await waiting
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # the coroutine's own `await` raises it when resumed
            waiting = coro.send(None)
            if getattr(waiting, "_asyncio_future_blocking", None) is not None:
                waiting._asyncio_future_blocking = False
    except StopIteration:
        return
    finally:
        coro.close()
