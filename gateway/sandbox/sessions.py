"""Threads' code sessions, kept between calls for an idle time: `CodeSessions` is what the engine asks of
them, wherever they run; `LocalSessions` keeps them on this machine (bubblewrap, `session.py`), and
`remote.RemoteSessions` asks a sandbox server (`server.py`) that keeps them with the same class.

A session is known by a key (the thread's id). Its files are one directory, `/mnt/data` inside; the
gateway puts files in (`put_file`) and reads the code's out (`read_file`) only as plain files directly in
it, never following a link the code made. A session idle past `idle_seconds` is ended with its files
(`expire`); past `max_sessions` the least recently used goes first. A session whose files take more than
`disk_bytes` of disk after a call is ended with them (no file system quota is assumed: the check follows
each call, bounded meanwhile by the file size limit and the wall clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import stat
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from gateway.sandbox.run import Sandbox, prepare
from gateway.sandbox.session import Cell, Session

KEY: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
READ: Final = 1 << 20  # bytes a file is read in


class SandboxError(Exception):
    """The sandbox could not do what was asked: the message says why, in words for the run's user."""


class FileTooLarge(SandboxError):
    pass


class FileMissing(SandboxError):
    pass


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise SandboxError(f"{key!r} cannot name a session")
    return key


def check_name(name: str) -> str:
    """A file name directly in /mnt/data: no directory part, not `.` or `..`, no NUL."""
    if not name or "/" in name or "\0" in name or name in (".", "..") or len(name.encode()) > 255:
        raise SandboxError(f"{name!r} cannot name a file in /mnt/data")
    return name


class CodeSessions(Protocol):
    """Where threads' code runs (see the module doc)."""

    location: str  # where the sessions live, as the store records it: this process or a server's URL

    async def execute(self, key: str, code: str) -> Cell: ...
    async def put_file(self, key: str, name: str, chunks: AsyncIterable[bytes]) -> None: ...
    def read_file(self, key: str, name: str, limit: int) -> AsyncIterator[bytes]: ...
    async def has(self, key: str) -> bool: ...
    async def close(self, key: str) -> None: ...
    async def expire(self) -> int: ...
    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Kept:
    session: Session
    dir: Path
    uid: int | None
    used: float


class LocalSessions:
    """Sessions on this machine, each under `root/<key>`, each run as a user of its own (from
    `first_uid`, one per session) when the gateway runs as root, else as the gateway's own user."""

    def __init__(
        self,
        sandbox: Sandbox,
        root: Path,
        *,
        location: str,
        idle_seconds: float,
        max_sessions: int,
        first_uid: int = 230_000,
        disk_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.location = location
        self._disk = disk_bytes
        self.sandbox = sandbox
        self._root = root
        self._idle = idle_seconds
        self._max = max_sessions
        self._clock = clock
        self._own_users = os.geteuid() == 0
        self._free_uids = list(range(first_uid + max_sessions - 1, first_uid - 1, -1))
        self._kept: OrderedDict[str, _Kept] = OrderedDict()  # least recently used first
        self._lock = asyncio.Lock()  # opening and closing sessions
        root.mkdir(mode=0o711, parents=True, exist_ok=True)
        _owned(root)
        if self._own_users:
            _reachable(root)

    async def _get(self, key: str) -> _Kept:
        check_key(key)
        async with self._lock:
            kept = self._kept.get(key)
            if kept is None:
                while len(self._kept) >= self._max:
                    _, oldest = self._kept.popitem(last=False)
                    await self._end(oldest)
                uid = self._free_uids.pop() if self._own_users else None
                data = self._root / key
                await asyncio.to_thread(_fresh, data, uid)
                kept = self._kept[key] = _Kept(Session(self.sandbox, data, uid), data, uid, self._clock())
            self._kept.move_to_end(key)
            kept.used = self._clock()
            return kept

    async def execute(self, key: str, code: str) -> Cell:
        kept = await self._get(key)
        try:
            cell = await kept.session.execute(code)
        finally:
            kept.used = self._clock()
        if self._disk is not None and await asyncio.to_thread(_disk_used, kept.dir) > self._disk:
            await self.close(key)
            return Cell(
                cell.stdout,
                f"The session's files took more than {self._disk} bytes of disk; the session was ended "
                "with its files.",
                [],
                cell.truncated,
                died=True,
            )
        return cell

    async def put_file(self, key: str, name: str, chunks: AsyncIterable[bytes]) -> None:
        kept = await self._get(key)
        path = kept.dir / check_name(name)
        fd = await asyncio.to_thread(_create, path, kept.uid)
        try:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > self.sandbox.limits.file_bytes:
                    raise FileTooLarge(f"{name} is larger than the sandbox's file size limit")
                await asyncio.to_thread(_write_all, fd, chunk)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        os.close(fd)

    async def read_file(self, key: str, name: str, limit: int) -> AsyncIterator[bytes]:
        kept = await self._get(key)
        fd = await asyncio.to_thread(_open_plain, kept.dir / check_name(name), limit)
        left = limit
        try:
            while chunk := await asyncio.to_thread(os.read, fd, READ):
                left -= len(chunk)
                if left < 0:
                    raise FileTooLarge(f"{name} grew past {limit} bytes while it was read")
                yield chunk
        finally:
            os.close(fd)

    async def has(self, key: str) -> bool:
        return check_key(key) in self._kept

    async def close(self, key: str) -> None:
        async with self._lock:
            kept = self._kept.pop(key, None)
            if kept is not None:
                await self._end(kept)

    async def expire(self) -> int:
        """End the sessions idle past `idle_seconds`; how many."""
        now = self._clock()
        async with self._lock:
            idle = [k for k, kept in self._kept.items() if now - kept.used > self._idle]
            for key in idle:
                await self._end(self._kept.pop(key))
        return len(idle)

    async def aclose(self) -> None:
        async with self._lock:
            while self._kept:
                await self._end(self._kept.popitem()[1])

    async def _end(self, kept: _Kept) -> None:
        await kept.session.close()
        await asyncio.to_thread(shutil.rmtree, kept.dir, True)
        if kept.uid is not None:
            self._free_uids.append(kept.uid)


def _disk_used(folder: Path) -> int:
    """Bytes of disk the files under `folder` take (blocks allocated: a sparse file counts what it
    holds), links never followed."""
    used = 0
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                used += os.lstat(os.path.join(parent, name)).st_blocks * 512
    return used


def _owned(root: Path) -> None:
    """`root` must be this process's own directory, not a link and writable by no one else: under a
    shared `/tmp`, another user could otherwise have made it first and so control where sessions go."""
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise OSError(
            f"the sessions' directory {root} must be a directory of the gateway's own user that no one "
            "else can write (CODE_SANDBOX_DIR)"
        )


def _reachable(root: Path) -> None:
    """Sessions' users must reach their directories under `root` (bubblewrap binds them as that user):
    every directory on the way must let others through (`o+x`)."""
    for folder in [root.resolve(), *root.resolve().parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise OSError(
                f"the sessions' directory {root} cannot be reached by their users: {folder} is closed "
                "to others (CODE_SANDBOX_DIR must lie under directories with o+x, such as /tmp or /var/lib)"
            )


def _fresh(data: Path, uid: int | None) -> None:
    """An empty directory for a new session (what an earlier session of the key left is gone)."""
    shutil.rmtree(data, ignore_errors=True)
    if uid is None:
        data.mkdir(mode=0o700)
    else:
        prepare(data, uid)


def _create(path: Path, uid: int | None) -> int:
    """A new plain file at `path` for writing, replacing whatever the code left there (a link is
    removed, never followed)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    if uid is not None:
        os.fchown(fd, uid, uid)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_plain(path: Path, limit: int) -> int:
    """`path` opened for reading if it is a plain file of at most `limit` bytes; a link, a pipe, a
    device or a directory the code made there is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileMissing(f"/mnt/data/{path.name} does not exist") from None
    except OSError:
        raise SandboxError(f"/mnt/data/{path.name} is not a plain file") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SandboxError(f"/mnt/data/{path.name} is not a plain file")
    if info.st_size > limit:
        os.close(fd)
        raise FileTooLarge(f"/mnt/data/{path.name} is larger than {limit} bytes")
    return fd
