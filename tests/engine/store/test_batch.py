"""The engine's multi-write transactions: a run's start (`runs.create_started`, `runs.begin`) and `Batch`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from gateway.engine.store import ACTIVE_RUN_STATUSES, NotFound, Store, ThreadBusy
from tests.engine.store.helpers import (
    required_action,
    run_to_requires_action,
    statements,
    store_now,
    tenant,
    thread_with_assistant,
    tool_step_details,
)

pytestmark = pytest.mark.asyncio
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


@contextmanager
def transactions(store: Store) -> Iterator[list[int]]:
    """Counts the transactions the store began inside the block, read and write: `[n]` after it. (Not
    SQLAlchemy's `begin` events: a one-statement write on PostgreSQL runs on the driver in autocommit,
    `store/direct.py`, where no event fires.)"""
    before = sum(store.db.transactions.values())
    seen = [0]
    try:
        yield seen
    finally:
        seen[0] = sum(store.db.transactions.values()) - before


async def _replying(store: Store, who: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A run in progress with its open reply: (thread id, run id, message, step)."""
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    assert await store.runs.begin(run["id"]) is not None
    msg, step = await store.messages.start(who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"])
    return t["id"], run["id"], msg, step


async def test_begin_starts_the_run_and_reads_history_in_one_transaction(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(
        who, t["id"], a["id"], additional_messages=[{"role": "user", "content": "hello"}]
    )
    expected = await store.history(who, t["id"])
    with transactions(store) as seen:
        history = await store.runs.begin(run["id"])
    assert seen == [1]
    assert history == expected and [h.role for h in history] == ["user", "user"]
    assert history[-1].content == _text("hello")
    started = await store.runs.retrieve(who, t["id"], run["id"])
    assert started["status"] == "in_progress" and started["started_at"] == store_now(store)


async def test_begin_refuses_a_run_that_left_queued(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    assert await store.runs.transition(who, run["id"], ["queued"], "cancelling") is not None
    assert await store.runs.begin(run["id"]) is None
    after = await store.runs.retrieve(who, t["id"], run["id"])
    assert after["status"] == "cancelling" and after["started_at"] is None
    assert await store.runs.begin("run_missing") is None


async def test_begin_history_keeps_tool_rounds(store: Store) -> None:
    who = tenant()
    t, waiting, step = await run_to_requires_action(store, who, "call_1")
    call = required_action("call_1")["submit_tool_outputs"]["tool_calls"][0]
    await store.steps.update(
        None, step["id"], step_details=step["step_details"], replay={"tool_calls": [call]}
    )
    await store.runs.submit_tool_outputs(
        who, t["id"], waiting["id"], [{"tool_call_id": "call_1", "output": "42"}]
    )
    expected = await store.history(who, t["id"])
    history = await store.runs.begin(waiting["id"])
    assert history == expected
    assert [(h.role, h.tool_call_id, h.output) for h in history][-2:] == [
        ("assistant", None, None),
        ("tool", "call_1", "42"),
    ]


async def test_a_runs_end_is_one_transaction(store: Store) -> None:
    who = tenant()
    tid, rid, msg, step = await _replying(store, who)
    batch = store.batch()
    batch.checkpoint(msg["id"], _text("Hel"))
    batch.complete_message(msg["id"], content=_text("Hello"), replay={"reasoning": "r"})
    batch.complete_step(step["id"], step_details=step["step_details"], usage=USAGE)
    batch.transition(rid, ACTIVE_RUN_STATUSES, "completed", close_children=True, usage=USAGE)
    assert len(batch) == 4
    with transactions(store) as seen:
        assert await batch.write() is True
    assert seen == [1] and len(batch) == 0
    run = await store.runs.retrieve(who, tid, rid)
    assert (run["status"], run["usage"], run["completed_at"]) == ("completed", USAGE, store_now(store))
    message = await store.messages.retrieve(who, tid, msg["id"])
    assert (message["status"], message["content"]) == ("completed", _text("Hello"))
    steps = (await store.steps.list(who, tid, rid))["data"]
    assert [(s["id"], s["status"], s["usage"]) for s in steps] == [(step["id"], "completed", USAGE)]
    assert [h.reasoning for h in await store.history(who, tid)][-1] == "r"


async def test_a_refused_transition_writes_nothing(store: Store) -> None:
    who = tenant()
    tid, rid, msg, step = await _replying(store, who)
    batch = store.batch()
    batch.checkpoint(msg["id"], _text("Hel"))
    batch.complete_message(msg["id"], content=_text("Hello"))
    batch.complete_step(step["id"], usage=USAGE)
    batch.transition(rid, ("queued",), "completed", usage=USAGE)  # the run is in_progress: refused
    assert await batch.write() is False
    assert (await store.runs.retrieve(who, tid, rid))["status"] == "in_progress"
    message = await store.messages.retrieve(who, tid, msg["id"])
    assert (message["status"], message["content"]) == ("in_progress", [])
    assert (await store.steps.retrieve(who, tid, rid, step["id"]))["status"] == "in_progress"


async def test_closing_children_comes_after_the_batch_own_writes(store: Store) -> None:
    who = tenant()
    tid, rid, msg, step = await _replying(store, who)
    a = (await store.runs.retrieve(who, tid, rid))["assistant_id"]
    other = await store.steps.create(
        who, thread_id=tid, run_id=rid, assistant_id=a, step_details=tool_step_details("call_9")
    )
    error = {"code": "rate_limit_exceeded", "message": "slow down"}
    batch = store.batch()
    batch.complete_message(
        msg["id"], content=_text("so far"), status="incomplete", incomplete_details={"reason": "max_tokens"}
    )
    batch.complete_step(step["id"], status="failed", last_error=error)
    batch.transition(rid, ACTIVE_RUN_STATUSES, "failed", close_children=True, last_error=error)
    assert await batch.write() is True
    message = await store.messages.retrieve(who, tid, msg["id"])
    # the batch's own close, not close_children's `run_failed`
    assert (message["status"], message["content"], message["incomplete_details"]) == (
        "incomplete",
        _text("so far"),
        {"reason": "max_tokens"},
    )
    run = await store.runs.retrieve(who, tid, rid)
    assert (run["status"], run["last_error"]) == ("failed", error)
    closed = await store.steps.retrieve(who, tid, rid, other["id"])  # left open by the batch: closed
    assert (closed["status"], closed["last_error"], closed["failed_at"]) == (
        "failed",
        error,
        store_now(store),
    )


async def test_requires_action_batch(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    await store.runs.begin(run["id"])
    step = await store.steps.create(
        who,
        thread_id=t["id"],
        run_id=run["id"],
        assistant_id=run["assistant_id"],
        step_details=tool_step_details(),
    )
    call = required_action("call_1")["submit_tool_outputs"]["tool_calls"][0]
    batch = store.batch()
    batch.update_step(step["id"], step_details=tool_step_details("call_1"), replay={"tool_calls": [call]})
    batch.transition(
        run["id"],
        ("in_progress",),
        "requires_action",
        required_action=required_action("call_1"),
        expires_at=store_now(store) + 600,
        usage=USAGE,
    )
    with transactions(store) as seen:
        assert await batch.write() is True
    assert seen == [1]
    waiting = await store.runs.retrieve(who, t["id"], run["id"])
    assert (waiting["status"], waiting["required_action"]) == ("requires_action", required_action("call_1"))
    open_step = await store.steps.retrieve(who, t["id"], run["id"], step["id"])
    assert (open_step["status"], open_step["step_details"]) == ("in_progress", tool_step_details("call_1"))
    assert [h.tool_calls for h in await store.history(who, t["id"])][-1] == [call]


async def test_an_empty_batch_is_no_transaction_and_two_transitions_are_refused(store: Store) -> None:
    with transactions(store) as seen:
        assert await store.batch().write() is True
    assert seen == [0]
    batch = store.batch()
    batch.transition("run_x", ("in_progress",), "completed")
    with pytest.raises(ValueError):
        batch.transition("run_x", ("in_progress",), "failed")


async def test_create_started_is_create_and_begin_in_one_transaction(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    with transactions(store) as seen:
        run, history = await store.runs.create_started(
            who,
            t["id"],
            a["id"],
            additional_messages=[{"role": "user", "content": "hello"}],
            lease_owner="me",
        )
    assert seen == [1]
    assert run["status"] == "queued" and run["started_at"] is None  # what `thread.run.created` shows
    assert history == await store.history(who, t["id"])
    assert [h.role for h in history] == ["user", "user"] and history[-1].content == _text("hello")
    stored = await store.runs.retrieve(who, t["id"], run["id"])
    assert stored["status"] == "in_progress" and stored["started_at"] == store_now(store)
    assert stored["model"] == run["model"] and stored["instructions"] == run["instructions"]
    with pytest.raises(ThreadBusy):  # it is the thread's active run
        await store.runs.create_started(who, t["id"], a["id"])


async def test_a_new_threads_run_is_made_with_it_in_one_transaction(store: Store) -> None:
    """create-thread-and-run: the thread, its messages, the additional ones and the started run in one
    write; what it returns is what is stored."""
    who = tenant()
    a = await store.assistants.create(who, model="MiniMax-M1", instructions="Be brief.", temperature=0.25)
    with transactions(store) as seen:
        thread, run, history = await store.runs.create_started_in_new_thread(
            who,
            a["id"],
            thread_metadata={"k": "v"},
            thread_messages=[{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}],
            additional_messages=[{"role": "user", "content": "three"}],
            lease_owner="me",
        )
    assert seen == [1]
    assert thread == await store.threads.retrieve(who, thread["id"])
    assert thread["metadata"] == {"k": "v"} and thread["tool_resources"] is None
    assert run["thread_id"] == thread["id"] and run["status"] == "queued"
    assert run["instructions"] == "Be brief." and run["temperature"] == 0.25  # the assistant's defaults
    assert history == await store.history(who, thread["id"])
    assert [(h.role, h.content) for h in history] == [
        ("user", _text("one")),
        ("assistant", _text("two")),
        ("user", _text("three")),
    ]
    stored = await store.runs.retrieve(who, thread["id"], run["id"])
    assert stored["status"] == "in_progress" and stored["started_at"] == store_now(store)
    with pytest.raises(ThreadBusy):  # it is the thread's active run
        await store.runs.create_started(who, thread["id"], a["id"])


@pytest.mark.parametrize("whose", ["missing", "another tenant's"])
async def test_a_new_threads_run_with_an_unknown_assistant_makes_nothing(store: Store, whose: str) -> None:
    who = tenant()
    other = await store.assistants.create(tenant(), model="MiniMax-M1")
    assistant_id = "asst_missing" if whose == "missing" else other["id"]
    before = await store.db.read(lambda conn: conn.execute(text("SELECT count(*) FROM threads")).scalar_one())
    with pytest.raises(NotFound, match=f"No assistant found with id '{assistant_id}'"):
        await store.runs.create_started_in_new_thread(
            who, assistant_id, thread_messages=[{"role": "user", "content": "hi"}]
        )
    after = await store.db.read(lambda conn: conn.execute(text("SELECT count(*) FROM threads")).scalar_one())
    assert after == before
    assert (
        await store.db.read(
            lambda conn: conn.execute(
                text("SELECT count(*) FROM messages WHERE tenant = :t"), {"t": who}
            ).scalar_one()
        )
        == 0
    )


async def _started(store: Store) -> tuple[str, dict[str, Any], dict[str, Any], Any]:
    """A started run and an empty batch: (tenant, thread, run, batch)."""
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run, _ = await store.runs.create_started(who, t["id"], a["id"])
    return who, t, run, store.batch()


async def test_creations_wait_for_the_next_write_and_go_first(store: Store) -> None:
    who, t, run, batch = await _started(store)
    msg, step = batch.start_reply(who, thread_id=t["id"], run_id=run["id"], assistant_id=run["assistant_id"])
    tool = batch.create_step(
        who,
        thread_id=t["id"],
        run_id=run["id"],
        assistant_id=run["assistant_id"],
        step_details=tool_step_details(),
    )
    assert (
        msg["status"] == "in_progress" and step["step_details"]["message_creation"]["message_id"] == msg["id"]
    )
    assert tool["type"] == "tool_calls" and len(batch) == 3 and not batch.due  # creations can wait
    assert msg["id"] not in [m["id"] for m in (await store.messages.list(who, t["id"]))["data"]]
    batch.complete_message(msg["id"], content=_text("Hi"))
    assert batch.due
    with transactions(store) as seen:
        assert await batch.write()
    assert seen == [1] and len(batch) == 0 and not batch.due
    stored = await store.messages.retrieve(who, t["id"], msg["id"])
    assert stored["status"] == "completed" and stored["content"] == _text("Hi")
    assert stored["created_at"] == msg["created_at"]
    steps = (await store.steps.list(who, t["id"], run["id"], order="asc"))["data"]
    assert [(s["id"], s["status"]) for s in steps] == [
        (step["id"], "in_progress"),
        (tool["id"], "in_progress"),
    ]
    history = await store.history(who, t["id"])
    assert [h.role for h in history][-1] == "assistant"  # the reply's place: after the user's message


async def test_creations_are_not_written_when_the_guard_fails(store: Store) -> None:
    who, t, run, batch = await _started(store)
    msg, _step = batch.start_reply(who, thread_id=t["id"], run_id=run["id"], assistant_id=run["assistant_id"])
    await store.runs.transition(who, run["id"], ACTIVE_RUN_STATUSES, "failed", close_children=True)
    batch.transition(run["id"], ("in_progress",), "completed", close_children=True)
    assert not await batch.write()
    assert msg["id"] not in [m["id"] for m in (await store.messages.list(who, t["id"]))["data"]]


async def test_creations_stay_for_the_next_write_when_a_transaction_fails(store: Store) -> None:
    who, t, run, batch = await _started(store)
    msg, step = batch.start_reply(who, thread_id=t["id"], run_id=run["id"], assistant_id=run["assistant_id"])
    batch.checkpoint(msg["id"], _text("Hel"))
    batch.complete_step("step_missing", step_details={"type": "tool_calls"}, usage=USAGE)
    # A write that cannot run: its statement lacks binds; its op (PostgreSQL's one call) nulls a NOT NULL.
    cannot = {"op": "checkpoint", "id": msg["id"], "set": {}}
    batch._writes.append((batch._writes[0][0], {"b_id": msg["id"]}, cannot))
    with pytest.raises(Exception):  # noqa: B017 (whatever the driver raises)
        await batch.write()
    assert len(batch) == 2 and not batch.due  # the reply's two rows wait for the next write
    assert msg["id"] not in [m["id"] for m in (await store.messages.list(who, t["id"]))["data"]]
    batch.complete_message(msg["id"], content=_text("Hello"))
    batch.complete_step(step["id"], step_details=step["step_details"], usage=USAGE)
    batch.transition(run["id"], ACTIVE_RUN_STATUSES, "completed", close_children=True)
    assert await batch.write()
    stored = await store.messages.retrieve(who, t["id"], msg["id"])
    assert stored["status"] == "completed" and stored["content"] == _text("Hello")
    steps = (await store.steps.list(who, t["id"], run["id"]))["data"]
    assert [(s["id"], s["status"]) for s in steps] == [(step["id"], "completed")]


async def test_writes_to_a_waiting_creation_go_into_its_insert(store: Store) -> None:
    who, t, run, batch = await _started(store)
    msg, step = batch.start_reply(who, thread_id=t["id"], run_id=run["id"], assistant_id=run["assistant_id"])
    batch.checkpoint(msg["id"], _text("Hel"))
    assert batch.due  # as the checkpoint's own UPDATE would have made it
    batch.complete_message(msg["id"], content=_text("Hello"), replay={"reasoning": "r"})
    batch.complete_message(msg["id"], content=_text("changed"))  # no longer in_progress: as the UPDATE
    batch.complete_step(step["id"], step_details=step["step_details"], usage=USAGE)
    batch.transition(run["id"], ACTIVE_RUN_STATUSES, "completed", close_children=True, usage=USAGE)
    with statements(store) as seen:
        assert await batch.write()
    one_call = ["SELECT gateway_batch(CAST($1 AS"]  # PostgreSQL: the same writes in one function call
    assert seen == (
        one_call
        if store.db.postgres
        else ["UPDATE runs SET", "INSERT INTO messages", "INSERT INTO run_steps"]
    )
    stored = await store.messages.retrieve(who, t["id"], msg["id"])
    assert (stored["status"], stored["content"], stored["completed_at"]) == (
        "completed",
        _text("Hello"),
        store_now(store),
    )
    assert [h.reasoning for h in await store.history(who, t["id"])][-1] == "r"
    steps = (await store.steps.list(who, t["id"], run["id"]))["data"]
    assert [(s["id"], s["status"], s["usage"], s["completed_at"]) for s in steps] == [
        (step["id"], "completed", USAGE, store_now(store))
    ]
    batch.checkpoint(msg["id"], _text("late"))  # written now: an UPDATE, which finds it completed
    with statements(store) as seen:
        assert await batch.write()
    assert seen == (one_call if store.db.postgres else ["UPDATE messages SET"])
    assert (await store.messages.retrieve(who, t["id"], msg["id"]))["content"] == _text("Hello")
