"""The pooled randomness behind ids and request ids: the sizes asked, no repeats, every hex digit alike,
safe across threads, and a forked child that does not reuse its parent's pool."""

from __future__ import annotations

import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.entropy import random_bytes, token_hex


def test_sizes_and_shape() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", token_hex())
    assert re.fullmatch(r"[0-9a-f]{8}", token_hex(4))
    assert len(random_bytes(5000)) == 5000  # more than one pool's worth at once
    assert len(random_bytes(3)) == 3


def test_tokens_do_not_repeat_and_every_hex_digit_is_as_likely() -> None:
    tokens = [token_hex() for _ in range(20_000)]
    assert len(set(tokens)) == len(tokens)
    digits = Counter("".join(tokens))
    expected = 20_000 * 32 / 16
    assert set(digits) == set("0123456789abcdef")
    assert all(abs(n - expected) < expected * 0.03 for n in digits.values()), digits


def test_tokens_made_on_many_threads_at_once_are_unique() -> None:
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [token_hex() for _ in range(5_000)], range(8)))
    tokens = [t for batch in batches for t in batch]
    assert len(set(tokens)) == len(tokens) == 40_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_its_parents_pool() -> None:
    token_hex()  # the pool holds unused bytes now, which the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, " ".join(token_hex() for _ in range(20)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {token_hex() for _ in range(20)}
    assert len(child) == 20 and not child & parent
