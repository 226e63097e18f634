"""Object ids (`asst_` ... + 24 random base62 characters; files `file-` as OpenAI's) and the clock's type."""

from __future__ import annotations

import string
import time
from collections.abc import Callable
from typing import Final

from gateway.entropy import random_bytes

Clock = Callable[[], int]
"""Unix seconds; passed in so tests control time."""

_ALPHABET: Final = string.ascii_letters + string.digits
PREFIXES: Final = frozenset({"asst", "thread", "msg", "run", "step", "call", "file", "vs", "vsfb"})


def new_id(prefix: str) -> str:
    """`asst_…`, `thread_…`, `msg_…`, `run_…`, `step_…`, `call_…`, `vs_…`, `vsfb_…`, and `file-…` (OpenAI
    joins file ids with a hyphen): 24 base62 characters, ~143 bits."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    chars: list[str] = []
    while len(chars) < 24:
        # Bytes below 248 (4 * 62) map onto base62 without bias; the rest are dropped.
        chars += [_ALPHABET[b % 62] for b in random_bytes(32) if b < 248]
    return prefix + ("-" if prefix == "file" else "_") + "".join(chars[:24])


def system_clock() -> int:
    return int(time.time())
