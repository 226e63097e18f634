"""Run one piece of untrusted Python in the sandbox and say how it ended.

The run is bubblewrap (`bwrap.py`) started with an empty environment (bubblewrap's own process is PID 1 of
the sandbox, so whatever environment it had could be read from `/proc/1/environ`), as `uid`: a user of its
own that owns nothing on the host but its session directory, so its limits count its processes alone.
Limits (`setrlimit` in the child before bubblewrap starts, inherited by everything inside): CPU seconds,
address space, processes, file size, open files, no core files; and the seccomp filter (`seccomp.py`),
compiled once per `Sandbox` and handed to bubblewrap in a memory file it inherits (`--seccomp FD`). A wall
clock kills the whole sandbox (its PID namespace dies with bubblewrap). Output beyond `output_bytes` is read
and dropped, so a chatty program cannot stall on a full pipe or fill the gateway's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from gateway.sandbox.bwrap import PYTHON, command, find_bwrap
from gateway.sandbox.seccomp import build, memfd

READ: Final = 65536
SELF_CHECK_SECONDS: Final = 30.0


@dataclass(frozen=True)
class Limits:
    """What one run may use (OpenAI's sandbox documented none; these are conservative)."""

    cpu_seconds: int = 60
    wall_seconds: float = 120.0
    memory_bytes: int = 2 << 30  # address space: numpy, pandas and matplotlib load within it
    processes: int = 64  # of the run's user, bubblewrap's own included
    file_bytes: int = 1 << 30  # the largest file it may write
    open_files: int = 256
    output_bytes: int = 1 << 20  # stdout and stderr kept, each


@dataclass(frozen=True)
class Outcome:
    """How a run ended: `exited` (with `exit_code`), `signalled` (killed by a limit or a signal:
    `signal`), or `timed_out` (the wall clock); `stdout`/`stderr` as far as kept."""

    ended: Literal["exited", "signalled", "timed_out"]
    exit_code: int | None
    signal: str | None
    stdout: str
    stderr: str
    truncated: bool


def _limiter(limits: Limits, uid: int | None) -> Callable[[], None]:
    """The child's set-up after fork, before bubblewrap starts: the limits, then its own user (here, not
    with the `user=` arguments of subprocess, which the event loop in use (uvloop) may not take)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return apply


def prepare(data_dir: Path, uid: int) -> None:
    """Make `data_dir` the session's own: owned by its user, closed to every other."""
    data_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(data_dir, uid, uid)
    data_dir.chmod(0o700)


class Sandbox:
    """Runs code under `limits` and the seccomp filter (`seccomp.py`, compiled once here); refuses to
    exist without bubblewrap or without the filter (`SandboxMissing`, `SeccompMissing`)."""

    def __init__(self, limits: Limits | None = None, bwrap: str | None = None) -> None:
        self.limits = limits or Limits()
        self._bwrap = bwrap or find_bwrap()
        self._seccomp = build()

    async def start(
        self, argv: list[str], data_dir: Path, uid: int | None, line_limit: int = READ
    ) -> asyncio.subprocess.Process:
        """`argv` started inside the sandbox (pipes on stdin, stdout and stderr), as `uid` (None: as
        this process's own user, which cannot switch users), limited; `line_limit`: the longest line
        its stdout may be read by."""
        seccomp = memfd(self._seccomp)  # bubblewrap's own copy; ours is closed once it has started
        try:
            return await asyncio.create_subprocess_exec(
                *command(self._bwrap, data_dir, argv, seccomp_fd=seccomp),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={},
                start_new_session=True,
                preexec_fn=_limiter(self.limits, uid),
                pass_fds=(seccomp,),
                limit=line_limit,
            )
        finally:
            os.close(seccomp)

    async def run(self, code: str, data_dir: Path, uid: int) -> Outcome:
        """Run `code` (Python source) with `data_dir` as `/mnt/data`, as `uid` (see `prepare`)."""
        limits = self.limits
        proc = await self.start([PYTHON, "-I", "-"], data_dir, uid)
        stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
        assert stdin is not None and stdout is not None and stderr is not None
        kept = [bytearray(), bytearray()]
        dropped = False

        async def drain(stream: asyncio.StreamReader, into: bytearray) -> None:
            nonlocal dropped
            while chunk := await stream.read(READ):
                room = limits.output_bytes - len(into)
                into += chunk[: max(room, 0)]
                dropped = dropped or len(chunk) > room

        async def feed() -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                stdin.write(code.encode())
                await stdin.drain()
            stdin.close()

        timed_out = False
        try:
            async with asyncio.timeout(limits.wall_seconds):
                await asyncio.gather(feed(), drain(stdout, kept[0]), drain(stderr, kept[1]))
                await proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            await kill(proc)  # the wall clock, or our caller gave up: the sandbox goes whole
        return _outcome(proc.returncode, timed_out, kept, dropped)


async def kill(proc: asyncio.subprocess.Process) -> None:
    """End a sandbox (its PID namespace dies with bubblewrap) and reap it; nothing if it has ended."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        await proc.communicate()  # reads its pipes to their end, so that they close (the loop's too)


async def self_check(sandbox: Sandbox, root: Path) -> str | None:
    """Why no code can run here, in bubblewrap's own words, or None: a sandbox started as this process's
    user under `root` ran Debian's python3. Run at start-up, so that a host or pod where bubblewrap cannot
    make its namespaces (deploy/README.md, "The code sandbox") fails at once, not at every cell."""
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".self-check-", dir=root))
    try:
        proc = await sandbox.start([PYTHON, "-I", "-c", "print('ok')"], work, None)
        try:
            async with asyncio.timeout(SELF_CHECK_SECONDS):
                out, err = await proc.communicate()
        except TimeoutError:
            await kill(proc)
            return f"a sandboxed print('ok') did not end within {SELF_CHECK_SECONDS:g} s"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if proc.returncode == 0 and out == b"ok\n":
        return None
    return err.decode(errors="replace").strip() or f"a sandboxed print('ok') exited with {proc.returncode}"


def _outcome(code: int | None, timed_out: bool, kept: list[bytearray], dropped: bool) -> Outcome:
    out, err = (k.decode("utf-8", "replace") for k in kept)
    if timed_out:
        return Outcome("timed_out", None, None, out, err, dropped)
    assert code is not None
    # bubblewrap exits 128 + N when the program was killed by signal N; it may be killed itself (-N).
    number = -code if code < 0 else code - 128 if code > 128 else None
    if number is not None:
        with contextlib.suppress(ValueError):
            return Outcome("signalled", None, signal.Signals(number).name, out, err, dropped)
    return Outcome("exited", code, None, out, err, dropped)
