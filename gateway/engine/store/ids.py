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
# Bytes below 248 (4 * 62) map onto base62 without bias (byte % 62); the rest are dropped. As a
# translation table, so that C does the mapping (a comprehension over the bytes took ~3 µs an id).
_BASE62: Final = bytes(ord(_ALPHABET[b % 62]) for b in range(248)) + bytes(8)
_UNBIASED: Final = bytes(range(248, 256))
PREFIXES: Final = frozenset({"asst", "thread", "msg", "run", "step", "call", "file", "vs", "vsfb"})


def new_id(prefix: str) -> str:
    """`asst_…`, `thread_…`, `msg_…`, `run_…`, `step_…`, `call_…`, `vs_…`, `vsfb_…`, and `file-…` (OpenAI
    joins file ids with a hyphen): 24 base62 characters, ~143 bits."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    chars = b""
    while len(chars) < 24:
        chars += random_bytes(32).translate(_BASE62, _UNBIASED)
    return prefix + ("-" if prefix == "file" else "_") + chars[:24].decode("ascii")


def system_clock() -> int:
    return int(time.time())
