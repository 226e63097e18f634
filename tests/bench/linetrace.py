"""`python -P tests/bench/linetrace.py SCRIPT ARG...`: run SCRIPT counting the Python lines each function
runs (a call counts as one), in every thread the process starts, but only between SIGUSR1 (counting on,
the counts cleared) and SIGUSR2 (counting off, the counts written to `$BENCH_LINES_OUT` as JSON rows
`[file, first line, qualified name, lines]`, atomically).

`python -m tests.bench.instructions --lines` runs the engine under it. Where callgrind counts
instructions without saying which Python function ran them, this says which function, in a unit that
is not an instruction (a line may be a dict lookup or a call into C): read it for where a run's Python
goes, and count instructions for what a change saves. `sys.settrace` slows the process about tenfold.
"""

from __future__ import annotations

import collections
import json
import os
import runpy
import signal
import sys
import threading
from types import CodeType, FrameType
from typing import Any

_counts: collections.Counter[CodeType] = collections.Counter()
_on = False


def _local(frame: FrameType, event: str, _: Any) -> Any:
    if event == "line":
        _counts[frame.f_code] += 1
    return _local


def _call(frame: FrameType, _event: str, _arg: Any) -> Any:
    if not _on:
        return None
    _counts[frame.f_code] += 1
    return _local


def _start(*_: Any) -> None:
    global _on
    _counts.clear()
    _on = True


def _stop(*_: Any) -> None:
    global _on
    _on = False
    rows = [[c.co_filename, c.co_firstlineno, c.co_qualname, n] for c, n in list(_counts.items())]
    out = os.environ["BENCH_LINES_OUT"]
    with open(out + ".part", "w") as f:
        json.dump(rows, f)
    os.replace(out + ".part", out)


def main() -> None:
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    sys.settrace(_call)
    threading.settrace(_call)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
