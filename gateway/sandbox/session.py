"""A thread's code_interpreter session: one sandboxed interpreter (`kernel.py`) kept between calls, so that
variables, imports and files survive, as in OpenAI's notebook-like sessions.

Each `execute` sends one cell and waits for its reply within the wall clock. A cell that runs past it, or a
session that died (a limit reached, the CPU budget of `Limits.cpu_seconds` spent over its life), is killed
whole; the next cell starts a new interpreter and its result says `reset`: the state is gone, as OpenAI
told the model ("code execution state reset"). Files in /mnt data stay: they are the session's directory.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.sandbox.bwrap import PYTHON
from gateway.sandbox.run import Sandbox, kill

KERNEL: Final = (Path(__file__).parent / "kernel.py").read_text()
LINE_LIMIT: Final = 16 << 20  # a reply line: the cell's output is capped well below it


@dataclass(frozen=True)
class Cell:
    """A cell's result: its output, its exception's traceback, the figures it left (PNG files in the
    session's directory), and how the session fared: `timed_out` (killed at the wall clock), `died`
    (the interpreter ended: a limit), `reset` (this cell ran in a new interpreter after that)."""

    stdout: str
    error: str | None
    images: list[str]
    truncated: bool = False
    files: list[str] = field(default_factory=list)
    timed_out: bool = False
    died: bool = False
    reset: bool = False


class Session:
    """One session's interpreter in `data_dir`, run as `uid`; started on first use."""

    def __init__(self, sandbox: Sandbox, data_dir: Path, uid: int | None) -> None:
        self._sandbox = sandbox
        self._dir = data_dir
        self._uid = uid
        self._proc: asyncio.subprocess.Process | None = None
        self._lost = False  # the last interpreter was killed or died: the next cell says `reset`
        self._lock = asyncio.Lock()
        self._reaping: set[asyncio.Future[None]] = set()  # interpreters killed on a cancel, being reaped

    async def execute(self, code: str) -> Cell:
        async with self._lock:  # one cell at a time, in order
            reset, self._lost = self._lost, False
            proc = self._proc
            if proc is None or proc.returncode is not None:
                proc = self._proc = await self._sandbox.start(
                    [PYTHON, "-I", "-c", KERNEL, str(self._sandbox.limits.output_bytes)],
                    self._dir,
                    self._uid,
                    line_limit=8 * self._sandbox.limits.output_bytes + 65536,  # JSON escapes included
                )
            assert proc.stdin is not None and proc.stdout is not None
            try:
                async with asyncio.timeout(self._sandbox.limits.wall_seconds):
                    proc.stdin.write(json.dumps({"code": code}).encode() + b"\n")
                    await proc.stdin.drain()
                    line = await proc.stdout.readline()
            except TimeoutError:
                await self._lose(proc)
                return Cell(
                    "", "The code ran past its time limit; the session was ended.", [], timed_out=True
                )
            except asyncio.CancelledError:  # the caller gave up (a run cancelled): the cell must not go on
                self._proc, self._lost = None, True
                reaping = asyncio.ensure_future(kill(proc))
                self._reaping.add(reaping)
                reaping.add_done_callback(self._reaping.discard)
                raise
            except (BrokenPipeError, ConnectionResetError, ValueError):  # ValueError: a reply past the limit
                line = b""
            if not line.endswith(b"\n"):  # the interpreter ended mid-cell: a limit (memory, CPU) or a crash
                await self._lose(proc)
                return Cell(
                    "",
                    "The code ended the interpreter (a resource limit); the session was ended.",
                    [],
                    died=True,
                )
            reply: dict[str, Any] = json.loads(line)
            return Cell(
                reply["stdout"],
                reply["error"],
                reply["images"],
                reply["truncated"],
                files=reply["files"],
                reset=reset,
            )

    async def _lose(self, proc: asyncio.subprocess.Process) -> None:
        await kill(proc)
        self._proc = None
        self._lost = True

    async def close(self) -> None:
        if self._proc is not None:
            await kill(self._proc)
            self._proc = None
