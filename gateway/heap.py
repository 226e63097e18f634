"""The serving process's garbage-collector policy: start-up's objects frozen, young objects collected
less often.

A stream's objects (chunks, events, encoded bytes) are freed by their reference counts as soon as they are
sent; the gateway makes few reference cycles per run. The collector still walks every tracked object in its
generation: with CPython's default thresholds (700, 10, 10) a steady stream of events starts young collections
often and full ones now and then, and each full one walks every object start-up leaves (modules, SQLAlchemy's
tables, pydantic's schemas) with the event loop stopped (tests/bench/README.md, "Measurements behind the
design"). Frozen (`gc.freeze`), those objects are skipped by every collection; with the young threshold at
7,000 a collection runs when the heap of tracked objects has grown by that many, which a steady load rarely
does. Cycles are still collected (exceptions with tracebacks make them), a little later.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 7_000


def settle() -> None:
    """Call once start-up is done: collect its garbage, freeze what is left, raise the young threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
