"""Sessions for the sandbox tests: directories the sandbox's users can reach (each session's own is
closed to others), and a user id of its own for every session."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.sandbox.run import prepare

_UIDS = itertools.count(230_000 + (os.getpid() % 1000) * 100)


@dataclass
class Session:
    dir: Path
    uid: int


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory only traversable by others (0711), as a deployment's session root would be."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-sessions-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def new_session(base: Path) -> Iterator[object]:
    def make(name: str = "s") -> Session:
        uid = next(_UIDS)
        data = base / f"{name}-{uid}"
        prepare(data, uid)
        return Session(data, uid)

    yield make


def reserve_uids(count: int) -> int:
    """The first of `count` consecutive user ids no other session of this test process is given (for
    `LocalSessions(first_uid=...)`, which runs each of its sessions as one of them)."""
    first = next(_UIDS)
    for _ in range(count - 1):
        next(_UIDS)
    return first


@pytest.fixture(scope="module")
def module_base() -> Iterator[Path]:
    """`base`, shared by a module's tests (a server kept for the module keeps its sessions there)."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-sessions-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Clock:
    """A clock the test moves (`now`): for idle expiry without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
