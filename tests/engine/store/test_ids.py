"""Object ids: OpenAI's prefixes, 24 base62 characters drawn from the OS's randomness (through a
pool), unique across threads and across a fork."""

from __future__ import annotations

import os
import re
import string
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.engine.store.ids import PREFIXES, new_id

SHAPE = re.compile(r"(asst|thread|msg|run|step|call|vs|vsfb)_[A-Za-z0-9]{24}|file-[A-Za-z0-9]{24}")


def test_shape_and_prefixes() -> None:
    for prefix in PREFIXES:
        joiner = "-" if prefix == "file" else "_"  # OpenAI's file ids: file-...
        assert SHAPE.fullmatch(new_id(prefix)) and new_id(prefix).startswith(prefix + joiner)
    with pytest.raises(ValueError):
        new_id("files")


def test_ids_do_not_repeat_and_use_every_character() -> None:
    ids = [new_id("msg")[4:] for _ in range(50_000)]  # > 400 refills of the pool
    assert len(set(ids)) == len(ids)
    counts = Counter("".join(ids))
    assert set(counts) == set(string.ascii_letters + string.digits)
    expected = 24 * len(ids) / 62
    assert all(0.9 * expected < n < 1.1 * expected for n in counts.values())  # unbiased base62


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
