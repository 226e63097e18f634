"""Fixtures for the chat tests: `chat_emu` starts emulators (see `reader.py`) and stops them after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.emulator.chat.reader import ChatEmu


@pytest.fixture
def chat_emu() -> Iterator[Any]:
    """`chat_emu(**config_fields)` starts an emulator; all are stopped at teardown."""
    started: list[ChatEmu] = []

    def start(**fields: Any) -> ChatEmu:
        started.append(ChatEmu(**fields))
        return started[-1]

    yield start
    for emu in started:
        emu.close()
