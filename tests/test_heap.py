"""The serving process's collector policy: start-up's objects frozen once the server has started, young
objects collected less often, reference cycles still collected."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from collections.abc import Iterator

import pytest
import uvicorn

from gateway import heap
from gateway.lifecycle import Lifecycle
from gateway.server import GatewayServer


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("restore_gc")
def test_settle_freezes_what_exists_and_still_collects_cycles() -> None:
    before = object.__new__(_Cycle)  # a tracked object made before: frozen with the rest
    assert gc.get_freeze_count() == 0
    heap.settle()
    assert gc.get_freeze_count() > 1000  # the test process's modules and objects at least
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    assert not any(o is before for o in gc.get_objects())  # frozen objects are in no generation
    ref = weakref.ref(_Cycle())
    assert ref() is not None  # alive: only its own cycle holds it
    gc.collect()
    assert ref() is None


@pytest.mark.usefixtures("restore_gc")
def test_after_settling_cycles_are_collected_without_being_asked() -> None:
    """The raised threshold still bounds garbage: cycles left behind start a collection of their own."""
    heap.settle()
    first = weakref.ref(_Cycle())  # garbage at once: only its own cycle holds it
    for _ in range(2 * heap.YOUNG_THRESHOLD):  # each leaves one tracked object (its attributes are inline)
        _Cycle()
        if first() is None:
            break
    assert first() is None  # collected by the collector's own count, no gc.collect() here


@pytest.mark.usefixtures("restore_gc")
def test_the_gateway_server_settles_the_heap_once_started() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        raise AssertionError("no request is made")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None)
    server = GatewayServer(config, Lifecycle(10, _ready, 1.0), drain_seconds=0)

    async def start_then_stop() -> None:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.01)
        try:
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
        finally:
            server.should_exit = True
            await serving

    try:
        asyncio.run(start_then_stop())
    finally:
        sock.close()


async def _ready() -> bool:
    return True


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_pause_is_counted_in_the_first_bucket_that_holds_it() -> None:
    clock = _Clock()
    pauses = heap.Pauses(clock)
    callback = pauses._time  # what gc.callbacks calls, driven here with chosen durations
    for generation, took in ((0, 0.0004), (0, 0.001), (1, 0.03), (2, 0.3), (2, 5.0)):
        callback("start", {"generation": generation})
        clock.now += took
        callback("stop", {"generation": generation, "collected": 0, "uncollectable": 0})
    bucket = {b: i for i, b in enumerate(heap.PAUSE_BUCKETS)}
    assert pauses.counts[0][bucket[0.001]] == 2  # 0.4 ms and exactly 1 ms: both "≤ 1 ms"
    assert pauses.counts[1][bucket[0.05]] == 1
    assert pauses.counts[2][bucket[1.0]] == 1 and pauses.counts[2][-1] == 1  # 5 s: only +Inf holds it
    assert sum(map(sum, pauses.counts)) == 5
    assert pauses.seconds == pytest.approx([0.0014, 0.03, 5.3])


def test_pauses_are_timed_while_installed_only() -> None:
    pauses = heap.Pauses()
    pauses.install()
    try:
        gc.collect(1)
        gc.collect(2)
        assert [sum(counts) for counts in pauses.counts] == [0, 1, 1]
        assert pauses.seconds[1] > 0 and pauses.seconds[2] > 0
    finally:
        pauses.remove()
    pauses.remove()  # twice is harmless
    gc.collect()
    assert [sum(counts) for counts in pauses.counts] == [0, 1, 1]
