"""What a read's events mean for the store: each lifecycle event (a message or step closed, the run's
end, `requires_action`) becomes a write of one batch, so a read costs one transaction at most and a
delta none. The assistant turn's private replay (reasoning, raw content, tool calls) goes with it."""

from __future__ import annotations

from typing import Final, cast

from gateway.engine.job import Job
from gateway.engine.store import ACTIVE_RUN_STATUSES, Batch, Replay, StepEnd
from gateway.schemas.status import MESSAGE_FINAL, RUN_FINAL, STEP_FINAL
from gateway.stream.events import Event, StreamEvent, TextDelta

ACTIVE: Final = tuple(ACTIVE_RUN_STATUSES)
MESSAGE_END: Final = frozenset(f"thread.message.{s}" for s in MESSAGE_FINAL)
RUN_END: Final = frozenset(f"thread.run.{s}" for s in RUN_FINAL)
STEP_STATUS: Final[dict[str, StepEnd]] = {f"thread.run.step.{s}": cast("StepEnd", s) for s in STEP_FINAL}


def replay(job: Job, with_calls: bool) -> Replay:
    decoder = job.decoder
    replay: Replay = {
        "reasoning": decoder.reasoning or None,
        "reasoning_details": decoder.reasoning_details,
    }
    if decoder.raw_content != decoder.content:
        replay["content"] = decoder.raw_content
    if with_calls:
        replay["tool_calls"] = decoder.tool_calls
        if job.images:  # the run may wait here: its next part shows them (`Executor._run`)
            replay["code_images"] = list(job.images)
        if job.paths:
            replay["code_files"] = dict(job.paths)
    return replay


async def record(job: Job, events: list[StreamEvent], batch: Batch, *, now: bool = False) -> None:
    """Store what this read's events closed (deltas are skipped: no write per chunk), with what
    `batch` already holds, in one transaction: when something closed, or with `now` (a checkpoint is
    due, the run ends) if the batch holds anything. Until then a message or step opened waits in the
    batch (see `Batch.due`). A run transition guards the batch (see `Batch`): the run's end and the
    message and step it closes are written together or not at all."""
    if note(job, events, batch) or (now and len(batch)):
        await batch.write()


def note(job: Job, events: list[StreamEvent], batch: Batch) -> bool:
    """`record` without the write: what the events closed goes into `batch`; whether it is due to be
    written now. A plain call, for the executor's loop over reads (a coroutine less per read)."""
    for event in events:
        if type(event) is TextDelta:
            continue
        assert isinstance(event, Event)
        name, data = event
        if name in MESSAGE_END:
            batch.complete_message(
                data["id"],
                content=data["content"],
                status="completed" if name == "thread.message.completed" else "incomplete",
                incomplete_details=data.get("incomplete_details"),
                replay=replay(job, False),
            )
        elif name in STEP_STATUS:
            batch.complete_step(
                data["id"],
                status=STEP_STATUS[name],
                step_details=data["step_details"],
                usage=data.get("usage"),
                last_error=data.get("last_error"),
            )
        elif name == "thread.run.requires_action":
            step = job.emitter.step
            if step is not None:
                batch.update_step(step.id, step_details=step.details(), replay=replay(job, True))
            batch.transition(
                job.run_id,
                ("in_progress",),
                "requires_action",
                required_action=data["required_action"],
                expires_at=data["expires_at"],
                usage=job.usage,
            )
        elif name in RUN_END:
            status = name.rsplit(".", 1)[1]
            fields = {k: data.get(k) for k in ("usage", "last_error", "incomplete_details") if data.get(k)}
            batch.transition(job.run_id, ACTIVE, status, close_children=True, **fields)  # type: ignore[arg-type]
    return batch.due
