"""Follow a run MiniMax will not stream (after tool outputs are submitted) by polling it.

MiniMax has no streamed submit_tool_outputs (docs/minimax-wire.md, "Tool calls and submit_tool_outputs"), so
the gateway polls the run, its steps and its messages and hands the changes to the stream translator as if
they were frames. Each poll reads the run first, so steps and messages read after it are at least as new; a
message step is announced as in progress before its message, and its end after it, whatever the poll caught.
Polling is paced (`interval`) and bounded (`timeout`); closing the stream stops it.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from gateway.bridge.client import Credentials, MiniMaxClient
from gateway.bridge.frames import Frame
from gateway.bridge.shapes import run_status
from gateway.errors import UpstreamTimeout
from gateway.schemas.status import STREAM_END, StepStatus


class RunFollower:
    """A `FrameSource` over a run's REST snapshots."""

    def __init__(
        self,
        minimax: MiniMaxClient,
        auth: Credentials,
        thread_id: str,
        run_id: str,
        steps_before: dict[str, str],
        *,
        interval: float,
        timeout: float,
    ) -> None:
        self._minimax = minimax
        self._auth = auth
        self._ids = {"thread_id": thread_id, "run_id": run_id}
        self._interval = interval
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._step_status = dict(steps_before)  # step id -> last status seen
        self._contents: dict[str, Any] = {}  # message id -> last content seen
        self._run_status: str | None = None
        self._polls = 0
        self._done = False

    async def next_batch(self) -> list[Frame] | None:
        if self._done:
            return None
        if self._polls:
            if time.monotonic() + self._interval > self._deadline:
                raise UpstreamTimeout(f"the run did not finish within {self._timeout:g} s of polling")
            await anyio.sleep(self._interval)
        self._polls += 1
        run = await self._get("threads/run/retrieve", self._ids)
        page = await self._get("threads/run_steps/list", {**self._ids, "order": "asc", "limit": 100})
        frames: list[Frame] = []
        for step in page.get("data") or ():
            frames.extend(await self._step_frames(step))
        status = run_status(run)
        if status != self._run_status or status in STREAM_END:
            self._run_status = status
            frames.append(Frame("run", run))
        self._done = status in STREAM_END
        return frames

    async def _step_frames(self, step: dict[str, Any]) -> list[Frame]:
        step_id, status = step.get("id", ""), step.get("status", "")
        before = self._step_status.get(step_id)
        self._step_status[step_id] = status
        frames = []
        if before is None:
            frames.append(Frame("step", {**step, "status": StepStatus.IN_PROGRESS.value}))
        if step.get("type") == "message_creation" and before in (None, StepStatus.IN_PROGRESS):
            message_id = ((step.get("step_details") or {}).get("message_creation") or {}).get("message_id")
            if message_id:
                message = await self._get(
                    "threads/messages/retrieve",
                    {"thread_id": self._ids["thread_id"], "message_id": message_id},
                )
                if message.get("content") != self._contents.get(message_id):
                    self._contents[message_id] = message.get("content")
                    frames.append(Frame("message", message))
        if status != StepStatus.IN_PROGRESS and status != before:
            frames.append(Frame("step", step))
        return frames

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self._minimax.call("GET", path, auth=self._auth, params=params)

    async def aclose(self) -> None:
        self._done = True
