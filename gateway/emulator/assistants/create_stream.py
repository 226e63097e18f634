"""POST /v1/threads/run/create_stream: validate, then write a run's changes as MiniMax SSE frames.

Frame order for a text run (docs/minimax-wire.md, "Frame order"): run (queued), run (in_progress),
[user echo], [run step message_creation in_progress], N x message (role "ai"), [run step completed],
run (completed, final base_resp).
Annotations ride on the message frame whose piece completes the marker (`incremental`,
`incremental_final`), on every frame once complete (`cumulative`), and on the extra final frame of
`incremental_final`. If the client goes away (or `cut:N` fires) the run continues in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator

from starlette.responses import Response

from gateway.emulator.assistants.endpoint import JSON, Params
from gateway.emulator.assistants.faults import Faults
from gateway.emulator.assistants.frames import FrameEncoder
from gateway.emulator.assistants.progression import (
    Change,
    MessageDone,
    RunChanged,
    StepChanged,
    TextDelta,
    UserMessage,
    fail_run,
    is_final,
)
from gateway.emulator.assistants.runs import prepare_run
from gateway.emulator.assistants.shapes import Run
from gateway.emulator.bodies import FrameStreamResponse, StreamCut
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.splitter import Splitter
from gateway.emulator.state import Context
from gateway.emulator.status_codes import invalid, standard_message


def frame_payloads(change: Change, config: EmulatorConfig) -> list[JSON]:
    """The stream-shaped `data` objects to write for one change under `config`'s dialect."""
    if isinstance(change, RunChanged):
        return [change.run.to_json(stream=True)]
    if isinstance(change, StepChanged):
        return [change.step.to_json(stream=True)] if config.step_frames else []
    if isinstance(change, UserMessage):
        m = change.message
        return [m.frame(m.text, list(m.content.annotations))] if config.echo_user else []
    if isinstance(change, TextDelta):
        if config.text_mode == "cumulative":
            return [change.message.frame(change.so_far, list(change.annotations_so_far))]
        return [change.message.frame(change.piece, list(change.new_annotations))]
    assert isinstance(change, MessageDone)
    m = change.message
    if config.text_mode == "incremental_final":
        return [m.frame(m.text, list(m.content.annotations))]
    return []


class _Writer:
    """Frame bytes to body writes: one per frame, or re-cut by a seeded Splitter."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.splitter = Splitter(config.split_seed) if config.chunking == "split" else None

    def write(self, data: bytes) -> list[bytes]:
        return self.splitter.feed(data) if self.splitter else [data]

    def flush(self) -> list[bytes]:
        return self.splitter.flush() if self.splitter else []


async def stream_frames(
    ctx: Context, run: Run, changes: Iterator[Change], faults: Faults
) -> AsyncGenerator[bytes, None]:
    config = ctx.config
    encoder = FrameEncoder(config.base_resp_style, config.line_ending)
    writer = _Writer(config)
    written = 0
    try:
        for change in changes:
            final = is_final(change)
            for payload in frame_payloads(change, config):
                for name in faults.due(written):
                    if name == "stall" and faults.stall:
                        await asyncio.sleep(faults.stall[1])
                    elif name == "malformed":
                        written += 1
                        for piece in writer.write(encoder.malformed()):
                            yield piece
                    elif name == "error_frame" and faults.error_frame:
                        code = faults.error_frame[1]
                        fail_run(ctx.store, run, standard_message(code))
                        for piece in (
                            writer.write(encoder.error(code, standard_message(code))) + writer.flush()
                        ):
                            yield piece
                        return
                    elif name == "cut":
                        for piece in writer.flush():
                            yield piece
                        raise StreamCut(f"emulator_fault cut:{written} on {run.id}")
                if written and run.pace_s:
                    await asyncio.sleep(run.pace_s)
                written += 1
                for piece in writer.write(encoder.frame(payload, final=final)):
                    yield piece
            if final:
                break
        if "cut" in faults.due(written):  # cut:N with N == all frames: no clean chunked terminator
            for piece in writer.flush():
                yield piece
            raise StreamCut(f"emulator_fault cut:{written} on {run.id}")
        for piece in writer.flush():
            yield piece
    finally:
        if run.active:  # client gone, or cut: the server-side run goes on
            ctx.runner.spawn(run, changes)


class StreamHandler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def create_stream(self, p: Params) -> JSON | Response:
        mode = p.raw("stream")
        if mode not in (1, 2) or isinstance(mode, bool):
            raise invalid("stream must be 1 (text) or 2 (text and audio)")
        messages = p.obj_list("messages")
        if messages is None:
            raise invalid("messages is required")
        prepared = prepare_run(self.ctx, p, messages)
        if isinstance(prepared, Response):
            return prepared
        run = prepared.run
        changes = self.ctx.progression(run).start(prepared.inputs)
        return FrameStreamResponse(stream_frames(self.ctx, run, changes, prepared.faults))
