"""Execute runs: one task per run streams MiniMax's chat completion, drives the run's emitter with
each chunk's deltas, and records the run in the store when something closes (a message or step, the
run's end), never per chunk; a message or step opened waits for that write, or for the process's
checkpoint tick (`checkpoints.py`), which saves every streaming reply every `checkpoint_interval`
seconds in one transaction so that another reader sees it grow.

While a client follows its run, each read is taken in the connection's callback instead of waking the
run's task (`reads.py`); the task takes the reads that need it, and every read when nobody follows.

A rejection before any event (MiniMax refusing the key, a rate limit, a fault) raises from `start`
and the run is recorded `failed`; after that every failure ends the run in the stream itself:
`thread.run.failed` with `last_error`, the text so far kept. A run's task goes on when its client
leaves, bounded by `run_timeout`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from typing import Any, Final, assert_never

from gateway.backend import Caller
from gateway.engine import code_interpreter, file_search, images, reads
from gateway.engine.chat import ChatClient
from gateway.engine.chunks import (
    ChatStreamDecoder,
    ChatStreamError,
    Delta,
    Finish,
    MalformedChunk,
    Reasoning,
    Text,
    ToolCallArgs,
    ToolCallStart,
    Usage,
)
from gateway.engine.citations import Citations, Piece
from gateway.engine.code_input import BadArguments, CodeInput
from gateway.engine.code_interpreter import CodeInterpreter
from gateway.engine.file_search import FileSearch
from gateway.engine.job import Job, RunEvents
from gateway.engine.models import model_aliases
from gateway.engine.prompt import PromptTooLong, chat_request
from gateway.engine.record import ACTIVE, note, record, replay
from gateway.engine.store import HistoryItem, Store, StoreError
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout
from gateway.metrics import Metrics
from gateway.schemas.status import RunStatus, StepStatus
from gateway.settings import Settings
from gateway.stream.emitter import RunEmitter
from gateway.stream.events import Clock, StreamEvent
from gateway.stream.text import TextMode
from gateway.upstream.errors import from_base_resp, last_error_code
from gateway.upstream.sse_body import SSEBody

log = logging.getLogger("gateway.engine")
REQUIRES_ACTION_SECONDS: Final = 600
# Rounds of file_search/code_interpreter calls served in one run before the model must answer.
MAX_TOOL_ROUNDS: Final = 16
TOO_MANY_ROUNDS: Final = (
    f"The model kept calling the gateway's tools (file_search, code_interpreter: {MAX_TOOL_ROUNDS} rounds "
    "a run at most)"
)
INTERNAL = "The gateway failed while running this run"


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments, "output": None},
    }


def _sum_usage(total: dict[str, Any] | None, usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if not usage:
        return total
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    base = total or {}
    return {k: int(base.get(k) or 0) + int(usage.get(k) or 0) for k in keys}


class Executor:
    """The runs executing in this process (see the module doc)."""

    def __init__(
        self,
        store: Store,
        chat: ChatClient,
        settings: Settings,
        *,
        owner: str,
        clock: Clock,
        file_search: FileSearch | None = None,
        code: CodeInterpreter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._file_search = file_search
        self._code = code
        self._metrics = metrics
        self._store = store
        self._chat = chat
        self._settings = settings
        self._aliases = model_aliases(settings)
        self.owner = owner  # this process's name on the leases it holds
        self._clock = clock
        self.jobs: dict[str, Job] = {}

    async def thread_deleted(self, thread_id: str) -> None:
        """A thread was deleted: what this process keeps for it goes (its code session)."""
        if self._code is not None:
            await self._code.forget(thread_id)

    async def upstream_reachable(self) -> bool:
        return await self._chat.reachable()

    # -- starting --------------------------------------------------------------------------------

    async def start(
        self,
        caller: Caller,
        run: dict[str, Any],
        *,
        stream: bool,
        prelude: Sequence[StreamEvent] = (),
        resumed_step: dict[str, Any] | None = None,
        history: list[HistoryItem] | None = None,
        include: Sequence[str] = (),
    ) -> RunEvents | None:
        """Open MiniMax's stream for `run` (leased to this process), then run it in a task; with
        `stream`, the client follows it through the returned events. `resumed_step`: the tool step
        whose outputs were just submitted (the run goes on). `history`: the run was stored already
        started (`Runs.create_started`) and this is its thread's history; else the run is `queued`
        and the task starts it (`Runs.begin`)."""
        emitter = RunEmitter(
            dict(run),
            new_id=_unused_id,
            clock=self._clock,
            text_mode=TextMode.INCREMENTAL,
            resumed=resumed_step is not None,
        )
        job = Job(
            caller.tenant, run, emitter, caller.api_key, self._store.batch(), self._settings.think_closer_only
        )
        job.include = tuple(include)
        self.jobs[job.run_id] = job
        events = job.follow(prelude) if stream else None
        job.task = asyncio.create_task(self._run(job, resumed_step, history), name=f"run {job.run_id}")
        return events

    async def _opened(self, job: Job, history: list[HistoryItem] | None) -> list[Delta] | PromptTooLong:
        """`_open`, with a rejection recorded: the run fails before it started."""
        try:
            return await self._open(job, history)
        except PromptTooLong as exc:
            return exc
        except GatewayError as exc:
            await self._store.runs.transition(
                None,
                job.run_id,
                ACTIVE,
                RunStatus.FAILED,
                close_children=True,
                last_error={"code": _run_code(exc), "message": exc.message},
            )
            raise

    async def _run(
        self, job: Job, resumed_step: dict[str, Any] | None, history: list[HistoryItem] | None
    ) -> None:
        """A run's whole life in its task: opened (a rejection goes to whoever waits on
        `job.opened`), executed, its connection closed and its followers ended."""
        try:
            try:
                pending = await self._opened(job, history)
            except asyncio.CancelledError:
                if job.stop_reason is None:
                    raise
                _uncancel()
                closing = self._stopped(job)  # stopped before it started: cancelled, or failed at shutdown
                await self._record(job, closing)
                job.opened.set_result(None)
                await job.publish(closing)
                return
            except GatewayError as exc:
                job.opened.set_exception(exc)
                job.opened.exception()  # a run nobody streams has nobody to hear it: no "never retrieved"
                return
            job.opened.set_result(None)
            if resumed_step is not None and file_search.declared(job.run) is not None:
                steps = await self._store.steps.list(
                    job.tenant, job.run["thread_id"], job.run_id, limit=100, order="asc"
                )
                job.searches, job.markers = file_search.given_out(steps["data"])
            if resumed_step is not None and self._code is not None and code_interpreter.declared(job.run):
                kept = await self._store.steps.replay(job.tenant, resumed_step["id"])
                job.images = list(kept.get("code_images") or ())  # drawn before the wait, not shown yet
                job.paths = dict(kept.get("code_files") or {})  # for the links of the answer to come
            await self._execute(job, pending, resumed_step)
        except StoreError:
            log.exception("run %s: the store failed; the lease sweep will fail the run", job.run_id)
        finally:
            if job.stream is not None:
                job.stream.close()
            self.jobs.pop(job.run_id, None)
            if not job.opened.done():
                job.opened.set_result(None)
            await job.end()

    async def _open(self, job: Job, history: list[HistoryItem] | None) -> list[Delta]:
        """Build the request, open the stream and read to its first deltas, within
        `first_byte_timeout`, so that a rejection (also an error chunk first thing) raises before
        the client sees an event."""
        if history is None:
            history = await self._store.runs.begin(job.run_id)  # in_progress from here: see `_opened`
            if history is None:
                return _LEFT_QUEUED
        history = await images.inline(self._store.files, job.tenant, job.run, history, self._settings)
        names: list[str] = []
        if self._code is not None and code_interpreter.declared(job.run):
            if job.code_files is None:
                job.code_files = await self._code.files(job.tenant, job.run, history)
            names = [name for _, name in job.code_files]
        body = chat_request(job.run, history, self._aliases, names)
        try:
            async with asyncio.timeout(self._settings.first_byte_timeout):
                stream = job.stream = await self._chat.open(body, job.caller_key)
                while True:
                    payloads = await stream.next_payloads()
                    if payloads is None:
                        return job.decoder.finish()
                    for i, payload in enumerate(payloads):  # an error before any delta: a rejection
                        if deltas := job.decoder.feed(payload):
                            job.unread = payloads[i + 1 :]  # `_stream` takes them (the decoder's fast path)
                            return deltas
        except BaseException as exc:  # the request's own cancellation too: the connection must not leak
            if job.stream is not None:
                job.stream.close()
            if isinstance(exc, ChatStreamError):
                raise from_base_resp(exc.code, exc.message) from None
            if isinstance(exc, MalformedChunk):
                raise UpstreamError(f"MiniMax sent a chunk that cannot be read ({exc.reason})") from None
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("MiniMax did not start the reply in time") from None
            raise

    async def _execute(
        self, job: Job, pending: list[Delta] | PromptTooLong, resumed_step: dict[str, Any] | None
    ) -> None:
        emitter = job.emitter
        closing: list[StreamEvent] = []
        try:
            opening: list[StreamEvent] = []
            emitter.start(opening)
            emitter.advance(RunStatus.IN_PROGRESS, opening)
            if resumed_step is not None:
                emitter.close_old_step(resumed_step, opening)
                opening = file_search.streamed(opening)
            if pending is _LEFT_QUEUED:
                raise _Gone  # cancelled (or failed by a sweep) before `_open` could start it
            await job.publish(opening)
            if isinstance(pending, PromptTooLong):
                emitter.close(
                    RunStatus.INCOMPLETE, closing, incomplete_details={"reason": "max_prompt_tokens"}
                )
            else:
                async with asyncio.timeout(self._settings.run_timeout):
                    more: list[Delta] | PromptTooLong | None = pending
                    rounds = 0
                    while isinstance(more, list):
                        await self._stream(job, more)
                        more = None  # function calls left wait for their outputs: requires_action
                        if job.server_args and rounds < MAX_TOOL_ROUNDS:
                            rounds += 1
                            more = await self._serve(job)
                if isinstance(more, PromptTooLong):
                    emitter.close(
                        RunStatus.INCOMPLETE, closing, incomplete_details={"reason": "max_prompt_tokens"}
                    )
                elif job.server_args:  # still calling after MAX_TOOL_ROUNDS: no answer will come
                    closing = emitter.fail("server_error", TOO_MANY_ROUNDS)
                else:
                    self._end(job, closing)
        except _Gone:
            found = await self._store.runs.get(job.run_id)
            status = found[1]["status"] if found is not None else RunStatus.FAILED
            cancelled = status in (RunStatus.CANCELLING, RunStatus.CANCELLED)
            job.stop_reason = (RunStatus.CANCELLED if cancelled else RunStatus.FAILED, _GONE)
            closing = self._stopped(job)
        except asyncio.CancelledError:
            if job.stop_reason is None:
                raise
            _uncancel()
            closing = self._stopped(job)
        except Exception as exc:  # every failure ends the run properly
            closing = emitter.fail(*_failure(exc))
        try:
            await self._record(job, closing)
        finally:  # the client hears the end even when the store cannot record it (the sweep will)
            await job.publish(closing)

    def _stopped(self, job: Job) -> list[StreamEvent]:
        """The closing events of a run stopped from outside: cancelled, or failed at shutdown."""
        emitter = job.emitter
        if emitter.terminal:
            return job.closing
        assert job.stop_reason is not None
        status, message = job.stop_reason
        events: list[StreamEvent] = []
        if status == RunStatus.CANCELLED:
            emitter.close(RunStatus.CANCELLED, events)
        else:
            emitter.close(RunStatus.FAILED, events, last_error={"code": "server_error", "message": message})
        return events

    async def _stream(self, job: Job, pending: list[Delta]) -> None:
        stream = job.stream
        assert stream is not None
        payloads: list[bytes] | None = None  # the first events come from `pending`, then from reads
        while True:
            events: list[StreamEvent] = []
            if payloads is None:
                self._apply(job, pending, events)
                if job.unread:  # at full speed, the opening read can hold most of the reply
                    unread, job.unread = job.unread, []
                    self._take(job, unread, events)
            else:
                self._take(job, payloads, events)
            await _out(job, events)
            if (payloads := await self._next(job, stream)) is None:
                break
        events = []
        try:
            self._apply(job, job.decoder.finish(), events)
            await record(job, events, job.batch)  # the run's end (`_execute`) writes what waits
        finally:
            await job.publish(events)

    async def _next(self, job: Job, stream: SSEBody) -> list[bytes] | None:
        """The next read's payloads for `_stream`'s loop (None: the body ended). While the client
        follows from this task, reads are taken in the connection's callback instead, and only one
        that needs this task comes back here (`reads.py`)."""
        while job.sink is not None:
            handed = await reads.until_needed(job, stream, functools.partial(self._take, job))
            if isinstance(handed, reads.End):
                return None
            if isinstance(handed, tuple):
                await _out(job, *handed)
            elif handed is not None:
                await reads.written(job, handed)
        return await stream.next_payloads()

    def _take(self, job: Job, payloads: list[bytes], events: list[StreamEvent]) -> None:
        """One read's payloads into events, in order. A plain answer piece while the message is open
        goes straight to its text delta (the decoder's fast path: no delta object), the rest through
        `feed` and `_apply`. A payload that fails after others of the read made events is kept on the
        job (`failure`), to be raised once those events went out."""
        decoder, emitter = job.decoder, job.emitter
        answer = decoder.answer
        for payload in payloads:
            message = emitter.message
            if message is not None and (piece := answer(payload)) is not None:
                if job.citations is None:
                    events.append(message.append_text(piece))
                else:
                    _cite(job.citations.feed(piece), message, events)
                continue
            try:
                deltas = decoder.feed(payload)
            except (ChatStreamError, MalformedChunk) as exc:
                if not events:
                    raise
                job.failure = exc
                return
            self._apply(job, deltas, events)

    def _apply(self, job: Job, deltas: list[Delta], events: list[StreamEvent]) -> None:
        """One read's deltas into events; a message or tool step opened goes into the job's batch."""
        emitter = job.emitter
        for delta in deltas:
            match delta:
                case Text(piece=piece):
                    message = emitter.message or self._open_message(job, events)
                    if job.citations is None:
                        events.append(message.append_text(piece))
                    else:
                        _cite(job.citations.feed(piece), message, events)
                case Reasoning():
                    continue  # kept by the decoder, stored with the turn, never shown as text
                case ToolCallStart(index=index, id=call_id, name=name):
                    step = emitter.step
                    if step is None or step.type != "tool_calls":
                        step = self._open_tool_step(job, events)
                    job.tool_names[index] = (call_id, name)
                    if name == file_search.NAME and file_search.declared(job.run) is not None:
                        job.server_args[index] = []  # served here: its arguments are not shown
                        shaped = {"id": call_id, "type": file_search.NAME, file_search.NAME: {}}
                        events.extend(step.apply_calls([(index, shaped)]))
                    elif name == code_interpreter.NAME and self._code and code_interpreter.declared(job.run):
                        job.server_args[index] = []  # served here: its code is shown as it streams
                        job.code_inputs[index] = CodeInput()
                        events.extend(step.apply_calls([(index, code_interpreter.details(call_id, "", []))]))
                    else:
                        events.extend(step.apply_calls([(index, _call(call_id, name, ""))]))
                case ToolCallArgs(index=index, piece=piece):
                    assert emitter.step is not None
                    if index in job.server_args:
                        job.server_args[index].append(piece)
                        if (code := job.code_inputs.get(index)) is not None:
                            self._show_code(job, index, code, piece, events)
                        continue
                    call_id, name = job.tool_names[index]
                    events.extend(emitter.step.apply_calls([(index, _call(call_id, name, piece))]))
                case Finish(reason=reason):
                    job.finish_reason = reason
                case Usage(data=data):
                    job.usage = _sum_usage(job.usage, data)
                    if emitter.step is not None:
                        emitter.step.set_usage(data)
                case _:
                    assert_never(delta)

    def _show_code(
        self, job: Job, index: int, code: CodeInput, piece: str, events: list[StreamEvent]
    ) -> None:
        """A piece of a code_interpreter call's arguments: the code it completes, as an `input` delta.
        Arguments that cannot be code stop showing; the call answers the model why (`_serve`)."""
        try:
            text = code.feed(piece)
        except BadArguments:
            del job.code_inputs[index]
            return
        if text:
            assert job.emitter.step is not None
            call_id, _ = job.tool_names[index]
            events.extend(
                job.emitter.step.apply_calls([(index, code_interpreter.details(call_id, text, []))])
            )

    def _open_message(self, job: Job, events: list[StreamEvent]) -> Any:
        markers, paths = job.markers, job.paths
        job.citations = Citations(markers, paths) if markers or paths else None
        run = job.run
        message, step = job.batch.start_reply(
            job.tenant, thread_id=run["thread_id"], run_id=job.run_id, assistant_id=run["assistant_id"]
        )
        job.emitter.open_step(step["id"], "message_creation", events, message["id"], base=step)
        opened = job.emitter.open_message(message["id"], events, created_at=message["created_at"])
        if job.images:  # what code drew in this run comes first in the answer, as on OpenAI's service
            shown = [
                {"id": f"image-{i}", "type": "image_file", "image_file": {"file_id": file_id}}
                for i, file_id in enumerate(job.images)
            ]
            events.extend(opened.apply_general(shown))
            job.images = []
        return opened

    def _open_tool_step(self, job: Job, events: list[StreamEvent]) -> Any:
        _flush(job, events)  # the message closes: text held back for a marker is shown first
        run = job.run
        step = job.batch.create_step(
            job.tenant,
            thread_id=run["thread_id"],
            run_id=job.run_id,
            assistant_id=run["assistant_id"],
            step_details={"type": "tool_calls", "tool_calls": []},
        )
        return job.emitter.open_step(step["id"], "tool_calls", events, base=step)

    async def _serve(self, job: Job) -> list[Delta] | PromptTooLong | None:
        """The reply called the tools the gateway serves (file_search, code_interpreter): serve each
        call, show its results on the call (the step), store the step and the results, then ask MiniMax
        again in the same run and return its first deltas; None when the step also holds function calls
        (the run then waits for their outputs, the served calls' results already stored with the step)."""
        assert job.emitter.step is not None
        began = time.perf_counter()
        step = job.emitter.step
        events: list[StreamEvent] = []
        served = []
        for index, pieces in sorted(job.server_args.items()):
            call_id, name = job.tool_names[index]
            if name == code_interpreter.NAME:
                details, output = await self._run_code(job, call_id, job.code_inputs.get(index))
            else:
                assert self._file_search is not None
                call = await self._file_search.call(
                    job.tenant, job.run, call_id, "".join(pieces), job.searches, ""
                )
                job.searches += 1
                job.markers.update(call.markers)
                details, output = call.details, call.output
            events.extend(step.apply_calls([(index, details)]))
            served.append((call_id, output))
        job.server_args, job.code_inputs = {}, {}
        run = job.run
        job.batch.update_step(step.id, step_details=step.details(), replay=replay(job, True))
        job.batch.add_tool_results(
            job.tenant, step_id=step.id, run_id=job.run_id, thread_id=run["thread_id"], outputs=served
        )
        if step.function_calls():
            await job.publish(file_search.streamed(events, job.include))
            return None
        job.emitter.close_step(events, StepStatus.COMPLETED)
        try:
            await record(job, events, job.batch, now=True)
        finally:
            await job.publish(file_search.streamed(events, job.include))
        if job.stream is not None:
            job.stream.close()
        job.decoder = ChatStreamDecoder(think_closer_only=self._settings.think_closer_only)
        job.tool_names, job.finish_reason = {}, None
        history = await self._store.history(job.tenant, run["thread_id"])
        if self._metrics is not None:
            self._metrics.search_rounds.observe(time.perf_counter() - began)
        try:
            return await self._open(job, history)
        except PromptTooLong as exc:
            return exc

    async def _run_code(self, job: Job, call_id: str, code: CodeInput | None) -> tuple[dict[str, Any], str]:
        """One code_interpreter call served: (its step details, less the input already shown; what
        goes back to the model). Its images wait for the answer's content, its files for its links."""
        assert self._code is not None
        try:
            if code is None:  # its arguments stopped decoding as they streamed (`_show_code`)
                raise BadArguments("the arguments cannot be read as code")
            source = code.finish()
        except BadArguments as exc:
            text = f'Execution stopped: the call\'s arguments must be a JSON object {{"code": "..."}} ({exc})'
            return code_interpreter.details(call_id, "", [{"type": "logs", "logs": text}]), text
        files = job.code_files or []
        call = await self._code.call(job.tenant, job.run, source, files)
        job.images += call.images
        job.paths.update(call.written)
        return code_interpreter.details(call_id, "", call.outputs), call.output  # the input went out already

    def _end(self, job: Job, events: list[StreamEvent]) -> None:
        """MiniMax's reply ended: the run's end follows from how."""
        _flush(job, events)
        emitter, reason = job.emitter, job.finish_reason
        step = emitter.step
        waits = step is not None and step.type == "tool_calls" and bool(step.function_calls())
        if job.images and not waits and emitter.message is None:
            self._open_message(job, events)  # images code drew, and no words after them: still shown
        if waits:
            emitter.run["expires_at"] = self._clock() + REQUIRES_ACTION_SECONDS
            emitter.close(RunStatus.REQUIRES_ACTION, events, usage=job.usage)
        elif reason == "length":
            emitter.close(
                RunStatus.INCOMPLETE,
                events,
                incomplete_details={"reason": "max_completion_tokens"},
                usage=job.usage,
            )
        elif reason in ("stop", "tool_calls") or (reason is None and job.decoder.content):
            emitter.close(RunStatus.COMPLETED, events, usage=job.usage)
        else:
            emitter.close(
                RunStatus.FAILED,
                events,
                last_error={"code": "server_error", "message": f"MiniMax ended the reply with {reason!r}"},
            )

    async def _record(self, job: Job, events: list[StreamEvent]) -> None:
        await record(job, events, job.batch, now=True)

    # -- stopping --------------------------------------------------------------------------------

    def stop(self, run_id: str, status: str, message: str) -> None:
        """End a run if it executes here (`cancelled`, or `failed` with `message`)."""
        job = self.jobs.get(run_id)
        if job is not None:
            job.stop(status, message)

    async def wait(self, run_id: str, timeout: float) -> None:
        """Wait up to `timeout` seconds for a run executing here to end (and be recorded)."""
        job = self.jobs.get(run_id)
        if job is not None and job.task is not None:
            await asyncio.wait({job.task}, timeout=timeout)

    async def shutdown(self, message: str) -> None:
        """Fail every run still executing here (the process is going away), and wait for them."""
        tasks = [job.task for job in self.jobs.values() if job.task is not None]
        for job in list(self.jobs.values()):
            job.stop(RunStatus.FAILED, message)
        if tasks:
            await asyncio.wait(tasks, timeout=5)


def _cite(pieces: list[Piece], message: Any, events: list[StreamEvent]) -> None:
    """Text that passed the citation scanner into the message's deltas."""
    for text, found in pieces:
        if text:
            events.append(message.append_annotated(text, found))


def _flush(job: Job, events: list[StreamEvent]) -> None:
    """Show what the citation scanner still holds (the message is about to close)."""
    if job.citations is not None and job.emitter.message is not None:
        _cite(job.citations.finish(), job.emitter.message, events)


_LEFT_QUEUED: Final[list[Delta]] = []
"""What `_open` returns, opening nothing, when the run had already left `queued`."""


class _Gone(Exception):
    """The run left `queued` under the executor (a cancel, a sweep)."""


_GONE = "The run ended while it was being started"


async def _out(job: Job, events: list[StreamEvent], due: bool | None = None) -> None:
    """A read's events out, after the store write they made due (`note`, unless the caller noted
    them; checkpoints are the process's tick: checkpoints.py); then the read's failure, if any."""
    try:
        if note(job, events, job.batch) if due is None else due:
            await job.batch.write()
    finally:  # what the emitter made goes out, even when the store failed: the client's
        await job.publish(events)  # text always equals the run's closing content
    if job.failure is not None:  # its read's deltas went out first: nothing is lost
        raise job.failure


def _uncancel() -> None:
    current = asyncio.current_task()
    if current is not None:
        current.uncancel()


def _unused_id(prefix: str) -> str:
    raise AssertionError(f"the engine names every {prefix} object itself (its store does)")


def _run_code(exc: GatewayError) -> str:
    return exc.code if exc.code in ("rate_limit_exceeded", "invalid_prompt") else "server_error"


def _failure(exc: Exception) -> tuple[str, str]:
    """(last_error code, message) of what ended a run mid-stream."""
    if isinstance(exc, ChatStreamError):
        return last_error_code(exc.code), f"MiniMax error {exc.code}: {exc.message}"
    if isinstance(exc, MalformedChunk):
        return "server_error", f"MiniMax sent a chunk that cannot be read ({exc.reason})"
    if isinstance(exc, GatewayError):
        return _run_code(exc), exc.message
    if isinstance(exc, TimeoutError):
        return "server_error", "The run did not finish within RUN_TIMEOUT"
    if isinstance(exc, StoreError):
        log.warning("run failed: the store failed (%s)", exc)
        return "server_error", "The gateway's database failed during the run"
    log.error("run failed: %r", exc, exc_info=exc)
    return "server_error", INTERNAL
