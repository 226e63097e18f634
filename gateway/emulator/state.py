"""Per-app state: config, store and background runner (the emulator keeps no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.emulator.config import EmulatorConfig
from gateway.emulator.engine import Engine
from gateway.emulator.objects import Run
from gateway.emulator.runner import Runner
from gateway.emulator.store import Store

ChatStreamEnd = Literal["completed", "client_closed", "cut", "error"]


@dataclass
class Context:
    config: EmulatorConfig
    store: Store = field(default_factory=Store)
    runner: Runner = field(init=False)
    # Chat completions: every JSON object body received (in order), streams still being written, and
    # how each stream ended as (index into chat_requests, end); "error" = an error_chunk fault fired.
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    chat_streams_open: int = 0
    chat_stream_ends: list[tuple[int, ChatStreamEnd]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runner = Runner(self.store)

    def engine(self, run: Run) -> Engine:
        return Engine(self.store, run, chars_per_frame=self.config.chars_per_frame)
