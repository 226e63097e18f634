"""The serving process's garbage-collector policy: start-up's objects frozen, young objects collected
less often.

A stream's objects (chunks, events, encoded bytes) are freed by their reference counts as soon as they are
sent; the gateway makes few reference cycles per run. The collector still walks every tracked object in its
generation: with CPython's default thresholds (700, 10, 10) a steady stream of events starts young collections
often and full ones now and then, and each full one walks every object start-up leaves (modules, SQLAlchemy's
tables, pydantic's schemas) with the event loop stopped (tests/bench/README.md, "Measurements behind the
design"). Frozen (`gc.freeze`), those objects are skipped by every collection.

A young collection starts when CPython's count of tracked objects allocated less those freed since the last
one passes the young threshold; a free that finds the count at 0 is not counted. A stream's objects live for
its run (seconds), so under a steady load the count only drifts, and each collection walks the runs still open
and moves them to the middle generation, which a middle collection walks again: pauses that find little
garbage, with the event loop stopped. At 50,000 (7,000 before, 700 is CPython's) a steady load of 500 streams
started no collection in a minute, where 7,000 spent 3 ms a second in them at 5 chunks a second and 30-43 at
50; while many streams open at once collections still run, fewer and longer (tests/bench/README.md,
"Measurements behind the design", has the figures). Cycles are still collected (exceptions with tracebacks
make them), once the count passes the threshold.

`Pauses` times every collection, the event loop stopped while it runs, for `/metrics`
(`gateway_gc_pause_seconds`): while many streams open at once the longest are tens to hundreds of
milliseconds, a tail that shows in every stream's latency (tests/bench/README.md, "Measurements behind the
design").
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any, Final

YOUNG_THRESHOLD: Final = 50_000
PAUSE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)  # s; +Inf implied


def settle() -> None:
    """Call once start-up is done: collect its garbage, freeze what is left, raise the young threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


class Pauses:
    """The collector's pauses by generation, counted into `PAUSE_BUCKETS` (a histogram's counts, not
    yet cumulative) from `gc.callbacks` while installed. The callback only adds numbers: it takes no
    lock (a metric's lock could be held by the code whose allocation started the collection)."""

    __slots__ = ("_clock", "_started", "counts", "seconds")

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._started = 0.0
        self.counts = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in range(3)]  # by generation, then bucket
        self.seconds = [0.0, 0.0, 0.0]  # by generation: the pauses' sum

    def install(self) -> None:
        gc.callbacks.append(self._time)

    def remove(self) -> None:
        if self._time in gc.callbacks:  # bound methods of one object compare equal
            gc.callbacks.remove(self._time)

    def _time(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self._clock()
            return
        took = self._clock() - self._started
        generation = info["generation"]
        self.seconds[generation] += took
        bucket = 0
        while bucket < len(PAUSE_BUCKETS) and took > PAUSE_BUCKETS[bucket]:
            bucket += 1
        self.counts[generation][bucket] += 1
