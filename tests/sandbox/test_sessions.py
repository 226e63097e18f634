"""LocalSessions: a thread's session keeps its state between calls and its files in a directory of its own
that no other session's code can reach; files go in and out streamed, only as plain files, never through a
link, pipe or directory the code made; idle sessions end with their files, and past `max_sessions` the
least recently used goes first. Real bubblewrap sandboxes; nothing is mocked."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.run import Limits, Sandbox
from gateway.sandbox.sessions import FileTooLarge, LocalSessions, SandboxError
from tests.sandbox.conftest import Clock, reserve_uids

FILE_BYTES = 4 << 20
MiB = 1 << 20


@asynccontextmanager
async def local(base: Path, max_sessions: int = 4, **options: Any) -> AsyncIterator[LocalSessions]:
    sessions = LocalSessions(
        Sandbox(Limits(file_bytes=FILE_BYTES, wall_seconds=30)),
        base,
        location="local",
        idle_seconds=options.pop("idle_seconds", 3600.0),
        max_sessions=max_sessions,
        first_uid=reserve_uids(max_sessions),
        **options,
    )
    try:
        yield sessions
    finally:
        await sessions.aclose()


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def read_all(sessions: LocalSessions, key: str, name: str, limit: int = FILE_BYTES) -> list[bytes]:
    return [chunk async for chunk in sessions.read_file(key, name, limit)]


@pytest.mark.asyncio
async def test_a_sessions_state_is_kept_between_calls_per_key(base: Path) -> None:
    async with local(base) as sessions:
        set_a = await sessions.execute("thread_a", "x = 'from a'")
        set_b = await sessions.execute("thread_b", "x = 'from b'")
        get_a = await sessions.execute("thread_a", "print(x)")
        get_b = await sessions.execute("thread_b", "x")
        assert (set_a.error, set_b.error) == (None, None)
        assert get_a.stdout == "from a\n" and get_b.stdout == "'from b'\n"
        assert await sessions.has("thread_a") and not await sessions.has("thread_c")


@pytest.mark.asyncio
async def test_two_sessions_cannot_reach_each_others_files(base: Path) -> None:
    async with local(base) as sessions:
        made = await sessions.execute("alice", "open('secret.txt', 'w').write('alice only')")
        assert made.error is None and made.files == ["secret.txt"]
        secret = base / "alice" / "secret.txt"
        assert secret.read_text() == "alice only"  # the host side of alice's /mnt/data
        probe = (
            "import os\n"
            "print(sorted(os.listdir('/mnt/data')))\n"
            f"for path in ['/mnt/data/../alice/secret.txt', {str(secret)!r}, {str(base)!r}]:\n"
            "    try:\n"
            "        print(os.listdir(path) if os.path.isdir(path) else open(path).read())\n"
            "    except OSError as exc:\n"
            "        print(type(exc).__name__)\n"
        )
        seen = await sessions.execute("bob", probe)
        assert seen.error is None
        assert seen.stdout.splitlines() == [
            "[]",
            "FileNotFoundError",
            "FileNotFoundError",
            "FileNotFoundError",
        ]
        assert (base / "bob").is_dir() and not (base / "bob" / "secret.txt").exists()
        assert os.stat(base / "alice").st_uid != os.stat(base / "bob").st_uid  # users of their own


@pytest.mark.asyncio
async def test_a_file_goes_in_and_comes_out_streamed(base: Path) -> None:
    data = os.urandom(2 * MiB + 12345)
    async with local(base) as sessions:
        await sessions.put_file("t", "in.bin", chunked(data, 300_000))
        cell = await sessions.execute(
            "t",
            "import hashlib\n"
            "raw = open('in.bin', 'rb').read()\n"
            "print(len(raw), hashlib.sha256(raw).hexdigest())\n"
            "open('out.bin', 'wb').write(raw[::-1])",
        )
        assert cell.stdout.split("\n")[0] == f"{len(data)} {hashlib.sha256(data).hexdigest()}"
        assert cell.files == ["out.bin"]
        chunks = await read_all(sessions, "t", "out.bin")
        assert b"".join(chunks) == data[::-1]
        assert len(chunks) == 3  # read 1 MiB at a time, never whole
        assert await read_all(sessions, "t", "in.bin") != []


@pytest.mark.asyncio
async def test_a_file_past_the_limit_is_refused_both_ways(base: Path) -> None:
    async with local(base) as sessions:
        with pytest.raises(FileTooLarge, match=r"big\.bin is larger than"):
            await sessions.put_file("t", "big.bin", chunked(b"x" * (FILE_BYTES + 1), MiB))
        assert not (base / "t" / "big.bin").exists()  # nothing half-written is left
        await sessions.execute("t", "open('made.txt', 'w').write('y' * 2000)")
        with pytest.raises(FileTooLarge, match="larger than 1000 bytes"):
            await read_all(sessions, "t", "made.txt", limit=1000)
        assert b"".join(await read_all(sessions, "t", "made.txt", limit=2000)) == b"y" * 2000


@pytest.mark.asyncio
async def test_what_the_code_made_in_place_of_a_file_is_never_read(base: Path) -> None:
    async with local(base) as sessions:
        cell = await sessions.execute(
            "t",
            "import os\n"
            "os.symlink('/etc/passwd', 'link')\n"
            "os.symlink('plain.txt', 'inner_link')\n"
            "open('plain.txt', 'w').write('ok')\n"
            "os.mkfifo('pipe')\n"
            "os.mkdir('folder')",
        )
        assert cell.error is None
        for name in ("link", "inner_link", "pipe", "folder"):
            with pytest.raises(SandboxError, match=f"/mnt/data/{name} is not a plain file"):
                await read_all(sessions, "t", name)
        with pytest.raises(SandboxError, match="/mnt/data/absent does not exist"):
            await read_all(sessions, "t", "absent")
        assert await read_all(sessions, "t", "plain.txt") == [b"ok"]


@pytest.mark.asyncio
async def test_put_file_replaces_a_link_without_following_it(base: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"  # a host file the code names, though it cannot see it
    victim.write_text("untouched")
    async with local(base) as sessions:
        await sessions.execute("t", f"import os\nos.symlink({str(victim)!r}, 'data.csv')")
        assert os.readlink(base / "t" / "data.csv") == str(victim)
        await sessions.put_file("t", "data.csv", chunked(b"a,b\n1,2\n", 4))
        assert victim.read_text() == "untouched"
        assert not (base / "t" / "data.csv").is_symlink()
        cell = await sessions.execute("t", "print(open('data.csv').read(), end='')")
        assert cell.stdout == "a,b\n1,2\n"


@pytest.mark.asyncio
async def test_bad_keys_and_names_are_refused(base: Path) -> None:
    async with local(base) as sessions:
        for key in ("", "../up", "a/b", "x" * 65, "dot.ted"):
            with pytest.raises(SandboxError, match="cannot name a session"):
                await sessions.execute(key, "1")
        for name in ("", ".", "..", "a/b", "nul\0", "x" * 256):
            with pytest.raises(SandboxError, match=r"cannot name a file in /mnt/data"):
                await sessions.put_file("t", name, chunked(b"1", 1))
        assert sorted(p.name for p in base.iterdir()) == ["t"]


@pytest.mark.asyncio
async def test_idle_sessions_expire_with_their_files(base: Path) -> None:
    clock = Clock()
    async with local(base, idle_seconds=60.0, clock=clock) as sessions:
        await sessions.execute("old", "v = 1\nopen('f.txt', 'w').write('1')")
        clock.now += 30
        await sessions.execute("new", "v = 2")
        clock.now += 31  # old: 61 s idle; new: 31 s
        assert await sessions.expire() == 1
        assert not await sessions.has("old") and not (base / "old").exists()
        assert await sessions.has("new") and (await sessions.execute("new", "v")).stdout == "2\n"
        assert await sessions.expire() == 0  # new was just used
        again = await sessions.execute("old", "print(v)")
        assert again.error is not None and "NameError" in again.error


@pytest.mark.asyncio
async def test_past_max_sessions_the_least_recently_used_ends(base: Path) -> None:
    async with local(base, max_sessions=2) as sessions:
        await sessions.execute("a", "v = 'a'")
        await sessions.execute("b", "v = 'b'")
        await sessions.execute("a", "v")  # b is now the least recently used
        await sessions.execute("c", "v = 'c'")
        assert [await sessions.has(k) for k in ("a", "b", "c")] == [True, False, True]
        assert not (base / "b").exists()
        assert (await sessions.execute("a", "v")).stdout == "'a'\n"


@pytest.mark.asyncio
async def test_a_closed_sessions_next_call_starts_fresh(base: Path) -> None:
    async with local(base) as sessions:
        await sessions.execute("t", "kept = 1\nopen('f.txt', 'w').write('1')")
        await sessions.close("t")
        assert not await sessions.has("t") and not (base / "t").exists()
        fresh = await sessions.execute("t", "import os\nprint(os.listdir('.'))\nkept")
        assert fresh.stdout == "[]\n"
        assert fresh.error is not None and "NameError" in fresh.error
        await sessions.close("never-opened")  # nothing to end: no error


@pytest.mark.asyncio
async def test_a_session_past_its_disk_quota_ends_with_its_files(base: Path) -> None:
    async with local(base, disk_bytes=3 * MiB) as sessions:
        kept = await sessions.execute("k", "_ = open('a.bin', 'wb').write(bytes(2 << 20))\nx = 1")
        assert kept.error is None and (base / "k" / "a.bin").exists()
        sparse = "f = open('s.bin', 'wb')\nf.seek(3 << 20)\n_ = f.write(b'1')\nf.close()"
        assert (await sessions.execute("k", sparse)).error is None  # 3 MiB, sparse: one block on disk
        over = await sessions.execute("k", "_ = open('b.bin', 'wb').write(bytes(2 << 20))\nprint('wrote')")
        assert over.died and over.stdout == "wrote\n" and "disk" in (over.error or "")
        assert not (base / "k").exists() and not await sessions.has("k")
        after = await sessions.execute("k", "import os\nprint(os.listdir('.'))")
        assert after.stdout == "[]\n"


@pytest.mark.parametrize("made", ["link", "writable by others", "another user's"])
def test_a_sessions_directory_someone_else_could_control_is_refused(base: Path, made: str) -> None:
    root = base / "root"
    if made == "link":
        (base / "elsewhere").mkdir()
        root.symlink_to(base / "elsewhere")
    else:
        root.mkdir()
        if made == "writable by others":
            root.chmod(0o777)
        else:
            os.chown(root, 65534, 65534)
    with pytest.raises(OSError, match="no one else can write"):
        LocalSessions(Sandbox(Limits()), root, location="here", idle_seconds=1, max_sessions=1)
