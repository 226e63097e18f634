"""Object ids (`asst_` ... + 24 base62 characters; files `file-` as OpenAI's) and the clock's type.

An id starts with its creation second, so that the ids a store makes in one second sit together in every
index keyed by them (each table's id, and a thread's or run's id in its messages', runs' and steps'
indexes). With ids all random, once a store outgrew a few pages each new run's rows landed on leaf pages
of their own in each of those indexes, for every write transaction to read and rewrite: on a SQLite store
of 30,000-50,000 runs a run's store work cost 1.3-1.4 ms of CPU against 0.9-1.1 with these ids
(tests/bench/README.md, "Measurements behind the design"). The rest of an id is random."""

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
RANDOM_CHARS: Final = 16


def new_id(prefix: str, now: float | None = None) -> str:
    """`asst_…`, `thread_…`, `msg_…`, `run_…`, `step_…`, `call_…`, `vs_…`, `vsfb_…`, and `file-…` (OpenAI
    joins file ids with a hyphen): 24 base62 characters, the first 8 the creation second (`now`, Unix
    seconds; the system clock's if None) in lowercase hex, so that later ids sort after earlier ones in
    byte order, and 16 random (~95 bits)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    chars = b""
    while len(chars) < RANDOM_CHARS:
        chars += random_bytes(24).translate(_BASE62, _UNBIASED)
    second = int(time.time() if now is None else now) & 0xFFFFFFFF  # 8 hex digits until 2106
    return f"{prefix}{'-' if prefix == 'file' else '_'}{second:08x}{chars[:RANDOM_CHARS].decode('ascii')}"


def system_clock() -> int:
    return int(time.time())
