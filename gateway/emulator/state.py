"""Per-app state of both emulated APIs: config, the Assistants store and background runner, and the
chat-completions record (the emulator keeps no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.emulator.assistants.progression import Progression
from gateway.emulator.assistants.records import Store
from gateway.emulator.assistants.runner import Runner
from gateway.emulator.assistants.shapes import Run
from gateway.emulator.config import EmulatorConfig

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

    def progression(self, run: Run) -> Progression:
        return Progression(self.store, run, chars_per_frame=self.config.chars_per_frame)
