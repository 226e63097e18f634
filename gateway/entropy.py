"""The OS's randomness for ids, drawn 4 KB at a time: one `os.urandom` per ~120 ids instead of one each.

On the event loop `os.urandom` (and so `uuid.uuid4`) lets go of the GIL and then waits to take it back
from the store's threads, stalling the loop under load (tests/bench/README.md, "Measurements behind
the design"). The
pool is locked (ids are made on the loop and in the store's threads); a forked child draws afresh.
"""

from __future__ import annotations

import os
import threading
from typing import Final


class _Entropy:
    __slots__ = ("_lock", "_pool", "_used")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._used = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._used + n > len(self._pool):
                self._pool, self._used = os.urandom(max(4096, n)), 0
            start = self._used
            self._used += n
            return self._pool[start : start + n]

    def forget(self) -> None:
        self._pool, self._used = b"", 0


_ENTROPY: Final = _Entropy()  # a cache of the OS's randomness, the process's own: no app state
os.register_at_fork(after_in_child=_ENTROPY.forget)


def random_bytes(n: int) -> bytes:
    """`n` bytes from the OS's randomness, as `os.urandom(n)` gives them."""
    return _ENTROPY.take(n)


def token_hex(n: int = 16) -> str:
    """`n` random bytes as 2n lowercase hex characters (`uuid4().hex` is 32, with 122 random bits)."""
    return _ENTROPY.take(n).hex()
