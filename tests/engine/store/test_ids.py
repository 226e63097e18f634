"""Object ids: OpenAI's prefixes, 24 base62 characters (the creation second, then characters drawn from the
OS's randomness through a pool), in creation order by the second, unique across threads and across a fork."""

from __future__ import annotations

import itertools
import os
import re
import string
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.engine.store.ids import PREFIXES, RANDOM_CHARS, new_id

SHAPE = re.compile(r"(asst|thread|msg|run|step|call|vs|vsfb)_[A-Za-z0-9]{24}|file-[A-Za-z0-9]{24}")


def test_shape_and_prefixes() -> None:
    for prefix in PREFIXES:
        joiner = "-" if prefix == "file" else "_"  # OpenAI's file ids: file-...
        assert SHAPE.fullmatch(new_id(prefix)) and new_id(prefix).startswith(prefix + joiner)
    with pytest.raises(ValueError):
        new_id("files")


def test_ids_do_not_repeat_and_use_every_character() -> None:
    ids = [new_id("msg", 1_765_000_000)[4:] for _ in range(50_000)]  # > 400 refills of the pool
    assert len(set(ids)) == len(ids)
    assert {i[:8] for i in ids} == {"6933c340"}  # the second, in hex
    counts = Counter("".join(i[8:] for i in ids))
    assert set(counts) == set(string.ascii_letters + string.digits)
    expected = RANDOM_CHARS * len(ids) / 62
    assert all(0.9 * expected < n < 1.1 * expected for n in counts.values())  # unbiased base62


def test_ids_sort_by_the_second_they_were_made_in() -> None:
    """What keeps a second's new rows together in each index keyed by an id (SQLite compares bytes)."""
    seconds = [0, 1, 15, 16, 255, 256, 1_765_000_000, 1_765_000_001, 2**32 - 1]
    for prefix in PREFIXES:
        made = [[new_id(prefix, second).encode() for _ in range(50)] for second in seconds]
        for earlier, later in itertools.pairwise(made):
            assert max(earlier) < min(later)
    assert new_id("run", 1_765_000_000.9)[4:12] == "6933c340"  # the second it is in
    assert new_id("run")[4:12] >= f"{int(time.time()) - 1:08x}"  # the system clock's when none is given


def test_ids_made_on_many_threads_at_once_are_unique() -> None:
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [new_id("run") for _ in range(5_000)], range(8)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == 40_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_id("step")  # the pool holds unused bytes now, which the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then exit without running the parent's teardown
        os.close(read)
        os.write(write, " ".join(new_id("step") for _ in range(20)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {new_id("step") for _ in range(20)}
    assert len(child) == 20 and not child & parent
