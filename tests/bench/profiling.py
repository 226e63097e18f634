"""Profile the gateway process under load: py-spy attached to it (or cProfile inside it as a
fallback), and a summary of where its samples go (self and inclusive % per function)."""

from __future__ import annotations

import collections
import pstats
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.bench.procs import LOAD_CORE


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class PySpy:
    """`py-spy record` on `pid`, collapsed-stack output, pinned next to the load (not the proxy)."""

    def __init__(self, pid: int, out: Path, rate: int = 250, gil: bool = False, native: bool = False) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.out = out
        cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "-o",
            str(out),
            *(["--gil"] if gil else []),  # only the thread holding the GIL: where the CPU goes
            # C frames (system calls, the collector) need the process paused at each sample: slower
            *(["--native"] if native else ["--nonblocking"]),
        ]
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(LOAD_CORE), *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if not self.out.exists():  # py-spy refused (options, permissions): say why, not "no such file"
            assert self.proc.stderr is not None
            raise RuntimeError(f"py-spy wrote no profile: {self.proc.stderr.read().decode().strip()}")


REPO = str(Path(__file__).resolve().parents[2]) + "/"  # this checkout, wherever it is


def _func(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (file.py)`, with the path shortened to the package."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", REPO, "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def summarize_collapsed(path: Path, top: int = 25) -> str:
    """Self % (leaf frames) and inclusive % (anywhere on the stack) per function, and by area."""
    self_count: collections.Counter[str] = collections.Counter()
    incl_count: collections.Counter[str] = collections.Counter()
    area: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [_func(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        self_count[frames[-1]] += count
        for f in set(frames):
            incl_count[f] += count
        area[_area(frames)] += count
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    out.append("by area (innermost frame that is gateway code, else the library the time is spent in):")
    out += [f"  {n / total * 100:5.1f}%  {a}" for a, n in area.most_common(15)]
    out.append(f"top {top} by self time:")
    out += [f"  {n / total * 100:5.1f}%  {f}" for f, n in self_count.most_common(top)]
    out.append(f"top {top} gateway/ functions by inclusive time:")
    gw = [(f, n) for f, n in incl_count.most_common() if "(gateway/" in f]
    out += [f"  {n / total * 100:5.1f}%  {f}" for f, n in gw[:top]]
    return "\n".join(out)


_TOP_LEVEL = ("main (gateway/cli.py)", "GatewayServer.serve (gateway/server.py)")


def _area(frames: list[str]) -> str:
    """Attribute a sample to the innermost gateway function on its stack (below the server's entry
    point), else to the library its leaf frame is in (uvloop, uvicorn, asyncio, ...)."""
    for f in reversed(frames):
        if "(gateway/" in f and f not in _TOP_LEVEL:
            return f
    leaf = frames[-1]
    path = leaf.split(" (", 1)[1].rstrip(")") if " (" in leaf else leaf
    return "outside gateway code: " + (path.split("/", 1)[0] if "/" in path else path)


def summarize_cprofile(path: Path, top: int = 25) -> str:
    stats = pstats.Stats(str(path))
    out: list[str] = []

    class _Sink:
        def write(self, s: str) -> None:
            out.append(s)

    stats.stream = _Sink()  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("gateway/", top)
    return "".join(out)
