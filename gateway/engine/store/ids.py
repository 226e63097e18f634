"""Object ids (`asst_` ... + 24 random base62 characters) and the injected clock's type."""

from __future__ import annotations

import os
import string
import threading
import time
from collections.abc import Callable
from typing import Final

Clock = Callable[[], int]
"""Unix seconds; passed in so tests control time."""

_ALPHABET: Final = string.ascii_letters + string.digits
PREFIXES: Final = frozenset({"asst", "thread", "msg", "run", "step", "call"})


class _Entropy:
    """The OS's random bytes, drawn 4 KB at a time: one `os.urandom` per ~120 ids instead of one each.
    On the event loop `os.urandom` lets go of the GIL and then waits to take it back from the store's
    threads: ~120 µs of stalled loop per id under load (cProfile, bench chat_s32). Locked (ids are
    made on the loop and in the store's threads); a forked child draws afresh."""

    __slots__ = ("_lock", "_pool", "_used")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._used = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._used + n > len(self._pool):
                self._pool, self._used = os.urandom(4096), 0
            start = self._used
            self._used += n
            return self._pool[start : start + n]

    def forget(self) -> None:
        self._pool, self._used = b"", 0


_ENTROPY: Final = _Entropy()  # a cache of the OS's randomness, the process's own: no app state
os.register_at_fork(after_in_child=_ENTROPY.forget)


def new_id(prefix: str) -> str:
    """`asst_…`, `thread_…`, `msg_…`, `run_…`, `step_…`, `call_…` (24 base62 characters, ~143 bits)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    chars: list[str] = []
    while len(chars) < 24:
        # Bytes below 248 (4 * 62) map onto base62 without bias; the rest are dropped.
        chars += [_ALPHABET[b % 62] for b in _ENTROPY.take(32) if b < 248]
    return prefix + "_" + "".join(chars[:24])


def system_clock() -> int:
    return int(time.time())
