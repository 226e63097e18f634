"""The core's output type: one OpenAI stream event (wire name + JSON payload), and the ports it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Event(NamedTuple):
    """One OpenAI `thread.*` stream event: its wire name and its payload."""

    name: str
    data: dict[str, Any]


NewId = Callable[[str], str]
"""Makes a fresh id with the given prefix (`step_`, `msg_`, `run_`); injected so tests are deterministic."""

Clock = Callable[[], int]
"""Returns the current Unix time in seconds; injected, never read inside the core."""
