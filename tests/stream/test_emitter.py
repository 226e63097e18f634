"""The emitter's run transitions: `RUN_TRANSITIONS` is what it allows, and what it sends on each path."""

from __future__ import annotations

import itertools

import pytest

from gateway.schemas.status import RUN_FINAL, STREAM_END, RunStatus
from gateway.stream.emitter import RUN_TRANSITIONS, EmitterError, RunEmitter
from gateway.stream.events import Event, StreamEvent


def _emitter(resumed: bool = False) -> RunEmitter:
    ids = itertools.count(1)
    return RunEmitter(
        {"id": "run_1", "thread_id": "thread_1", "expires_at": 99},
        new_id=lambda prefix: f"{prefix}{next(ids)}",
        clock=lambda: 1_700_000_000,
        resumed=resumed,
    )


def _names(events: list[StreamEvent]) -> list[str]:
    return [e.name for e in events if isinstance(e, Event)]


def test_the_table_has_no_row_after_the_stream_ends() -> None:
    assert set(RUN_TRANSITIONS) == {None, RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.CANCELLING}
    for row in RUN_TRANSITIONS.values():
        for asked, following in row.items():
            assert isinstance(following, RunStatus)
            assert following == asked or asked == RunStatus.QUEUED  # queued is never returned to
    assert set(RUN_TRANSITIONS[RunStatus.IN_PROGRESS]) == set(RunStatus)  # every status follows in_progress


@pytest.mark.parametrize(
    ("path", "ending", "expected"),
    [
        ((), "completed", ["created", "queued", "in_progress", "completed"]),
        ((), "failed", ["created", "queued", "failed"]),
        (("in_progress",), "requires_action", ["created", "queued", "in_progress", "requires_action"]),
        (
            ("in_progress", "queued", "in_progress"),
            "incomplete",
            ["created", "queued", "in_progress", "incomplete"],
        ),
        (("cancelling",), "cancelled", ["created", "queued", "cancelling", "cancelled"]),
        (
            ("in_progress", "cancelling"),
            "completed",
            ["created", "queued", "in_progress", "cancelling", "in_progress", "completed"],
        ),
        (("cancelling",), "expired", ["created", "queued", "cancelling", "expired"]),
    ],
)
def test_paths_send_each_status_once(path: tuple[str, ...], ending: str, expected: list[str]) -> None:
    emitter = _emitter()
    events: list[StreamEvent] = []
    for status in path:
        emitter.advance(status, events)
    emitter.close(ending, events)
    assert _names(events) == [f"thread.run.{s}" for s in expected]
    assert emitter.terminal and emitter.run_status == ending
    assert [e.data["status"] for e in events if isinstance(e, Event)] == ["queued", *expected[1:]]


def test_a_resumed_run_starts_queued() -> None:
    emitter = _emitter(resumed=True)
    events: list[StreamEvent] = []
    emitter.advance(RunStatus.IN_PROGRESS, events)
    assert _names(events) == ["thread.run.queued", "thread.run.in_progress"]


@pytest.mark.parametrize("ending", sorted(STREAM_END))
def test_nothing_moves_a_stream_that_ended(ending: str) -> None:
    emitter = _emitter()
    events: list[StreamEvent] = []
    emitter.close(ending, events)
    sent = list(events)
    for status in ("queued", "in_progress", "cancelling"):
        with pytest.raises(EmitterError):
            emitter.advance(status, events)
    emitter.close("failed", events)  # the end is sent once: closing again does nothing
    assert emitter.fail("server_error", "late") == [] and emitter.finish() == []
    assert events == sent


@pytest.mark.parametrize("status", [*sorted(STREAM_END), "started", "bogus"])
def test_advance_refuses_what_the_table_does_not_allow(status: str) -> None:
    emitter = _emitter()
    events: list[StreamEvent] = []
    emitter.advance("in_progress", events)
    with pytest.raises(EmitterError):
        emitter.advance(status, events)
    assert not emitter.terminal and emitter.run_status == "in_progress"


@pytest.mark.parametrize("status", ["queued", "in_progress", "cancelling", "started"])
def test_close_takes_only_an_end(status: str) -> None:
    with pytest.raises(EmitterError):
        _emitter().close(status, [])


def test_final_statuses_reach_the_end_from_every_open_state() -> None:
    for start, ending in itertools.product(("queued", "in_progress", "cancelling"), sorted(RUN_FINAL)):
        emitter = _emitter()
        events: list[StreamEvent] = []
        emitter.advance(start, events)
        emitter.close(ending, events)
        assert _names(events)[-1] == f"thread.run.{ending}"
