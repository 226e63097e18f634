"""Per-app state: config, store and background runner (the emulator keeps no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.emulator.config import EmulatorConfig
from gateway.emulator.engine import Engine
from gateway.emulator.objects import Run
from gateway.emulator.runner import Runner
from gateway.emulator.store import Store


@dataclass
class Context:
    config: EmulatorConfig
    store: Store = field(default_factory=Store)
    runner: Runner = field(init=False)

    def __post_init__(self) -> None:
        self.runner = Runner(self.store)

    def engine(self, run: Run) -> Engine:
        return Engine(self.store, run, chars_per_frame=self.config.chars_per_frame)
