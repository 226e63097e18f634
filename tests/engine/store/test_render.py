"""CRUD of every object, in OpenAI's exact shapes (the field sets `gateway.translate.objects` returns)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Connection, TextClause, text

from gateway.engine.store import NotFound, Store, ThreadBusy, new_id
from tests.engine.store.conftest import START, Clock
from tests.engine.store.helpers import (
    FIELDS,
    run_to_requires_action,
    tenant,
    thread_with_assistant,
    tool_step_details,
)

pytestmark = pytest.mark.asyncio


async def test_ids_are_prefixed_base62() -> None:
    for prefix in ("asst", "thread", "msg", "run", "step", "call"):
        assert re.fullmatch(prefix + r"_[A-Za-z0-9]{24}", new_id(prefix))
    assert len({new_id("run") for _ in range(1000)}) == 1000
    with pytest.raises(ValueError):
        new_id("bogus")


async def test_assistant_crud(store: Store, clock: Clock) -> None:
    who = tenant()
    a = await store.assistants.create(
        who,
        model="MiniMax-M1",
        name="n",
        instructions="be brief",
        tools=[{"type": "function", "function": {"name": "f"}}],
        metadata={"k": "v"},
        temperature=0.5,
    )
    assert set(a) == FIELDS["assistant"]
    assert a["object"] == "assistant" and a["created_at"] == START and a["id"].startswith("asst_")
    assert await store.assistants.retrieve(who, a["id"]) == a
    clock.now += 5
    changed = await store.assistants.modify(who, a["id"], {"name": None, "metadata": {"x": "y"}})
    assert changed == {**a, "name": None, "metadata": {"x": "y"}}
    assert await store.assistants.modify(who, a["id"], {}) == changed
    assert await store.assistants.delete(who, a["id"]) == {
        "id": a["id"],
        "object": "assistant.deleted",
        "deleted": True,
    }
    with pytest.raises(NotFound) as e:
        await store.assistants.retrieve(who, a["id"])
    assert (e.value.kind, e.value.id) == ("assistant", a["id"])
    with pytest.raises(NotFound):
        await store.assistants.delete(who, a["id"])


async def test_thread_crud_and_first_messages(store: Store) -> None:
    who = tenant()
    t = await store.threads.create(
        who,
        metadata={"a": "1"},
        messages=[
            {"role": "user", "content": "one"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": {"value": "two", "annotations": []}}],
                "metadata": {"m": "1"},
            },
        ],
    )
    assert t == {
        "id": t["id"],
        "object": "thread",
        "created_at": START,
        "metadata": {"a": "1"},
        "tool_resources": None,
    }
    assert set(t) == FIELDS["thread"]
    assert await store.threads.retrieve(who, t["id"]) == t
    page = await store.messages.list(who, t["id"], order="asc")
    assert [m["content"][0]["text"]["value"] for m in page["data"]] == ["one", "two"]
    assert [m["role"] for m in page["data"]] == ["user", "assistant"]
    assert page["data"][1]["metadata"] == {"m": "1"}
    assert (await store.threads.modify(who, t["id"], {"metadata": {}}))["metadata"] == {}
    assert await store.threads.delete(who, t["id"]) == {
        "id": t["id"],
        "object": "thread.deleted",
        "deleted": True,
    }
    with pytest.raises(NotFound):
        await store.threads.retrieve(who, t["id"])


async def test_message_crud(store: Store) -> None:
    who = tenant()
    _, t = await thread_with_assistant(store, who)
    m = await store.messages.add(
        who, t["id"], {"role": "user", "content": "hi", "attachments": [], "metadata": {"k": "v"}}
    )
    assert set(m) == FIELDS["message"]
    assert m == {
        "id": m["id"],
        "object": "thread.message",
        "created_at": START,
        "thread_id": t["id"],
        "role": "user",
        "content": [{"type": "text", "text": {"value": "hi", "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "status": "completed",
        "completed_at": START,
        "incomplete_at": None,
        "incomplete_details": None,
        "metadata": {"k": "v"},
    }
    assert await store.messages.retrieve(who, t["id"], m["id"]) == m
    assert await store.messages.modify(who, t["id"], m["id"], metadata={"z": "1"}) == {
        **m,
        "metadata": {"z": "1"},
    }
    assert (await store.messages.delete(who, t["id"], m["id"]))["object"] == "thread.message.deleted"
    with pytest.raises(NotFound):
        await store.messages.retrieve(who, t["id"], m["id"])
    with pytest.raises(NotFound):
        await store.messages.add(who, "thread_nope", {"role": "user", "content": "x"})


async def test_run_lifecycle_objects(store: Store, clock: Clock) -> None:
    who = tenant()
    a, t = await thread_with_assistant(
        store, who, instructions="assistant says", temperature=0.3, tools=[{"type": "code_interpreter"}]
    )
    run = await store.runs.create(
        who,
        t["id"],
        a["id"],
        metadata={"r": "1"},
        max_completion_tokens=512,
        additional_messages=[{"role": "user", "content": "more"}],
    )
    assert set(run) == FIELDS["run"]
    assert run["status"] == "queued" and run["expires_at"] == START + 600
    assert (run["instructions"], run["temperature"], run["tools"]) == (
        "assistant says",
        0.3,
        [{"type": "code_interpreter"}],
    )
    assert run["truncation_strategy"] == {"type": "auto", "last_messages": None}
    assert await store.runs.retrieve(who, t["id"], run["id"]) == run
    msgs = await store.messages.list(who, t["id"], order="asc")
    assert [m["content"][0]["text"]["value"] for m in msgs["data"]] == ["hello", "more"]

    clock.now += 1
    started = await store.runs.transition(who, run["id"], ["queued"], "in_progress")
    assert started is not None and started["started_at"] == START + 1
    msg, step = await store.messages.start(who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"])
    assert (msg["status"], msg["content"], msg["run_id"], msg["assistant_id"]) == (
        "in_progress",
        [],
        run["id"],
        a["id"],
    )
    assert set(step) == FIELDS["step"]
    assert step["step_details"] == {"type": "message_creation", "message_creation": {"message_id": msg["id"]}}
    text = [{"type": "text", "text": {"value": "Hel", "annotations": []}}]
    assert await store.messages.checkpoint(who, msg["id"], text)
    assert (await store.messages.retrieve(who, t["id"], msg["id"]))["content"] == text
    clock.now += 1
    final = [{"type": "text", "text": {"value": "Hello", "annotations": []}}]
    done = await store.messages.complete(None, msg["id"], content=final, replay={"reasoning": "think"})
    assert done is not None and (done["status"], done["completed_at"], done["content"]) == (
        "completed",
        START + 2,
        final,
    )
    assert "replay" not in done
    assert await store.messages.complete(None, msg["id"], content=final) is None
    assert not await store.messages.checkpoint(None, msg["id"], text)
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    closed = await store.steps.complete(None, step["id"], usage=usage)
    assert closed is not None and (closed["status"], closed["completed_at"], closed["usage"]) == (
        "completed",
        START + 2,
        usage,
    )
    assert await store.steps.retrieve(who, t["id"], run["id"], step["id"]) == closed
    finished = await store.runs.transition(None, run["id"], ["in_progress"], "completed", usage=usage)
    assert finished is not None
    assert (finished["status"], finished["completed_at"], finished["expires_at"], finished["usage"]) == (
        "completed",
        START + 2,
        None,
        usage,
    )
    assert finished["started_at"] == START + 1
    modified = await store.runs.modify(who, t["id"], run["id"], metadata={"r": "2"})
    assert modified == {**finished, "metadata": {"r": "2"}}
    assert (await store.runs.get(run["id"])) == (who, modified)
    steps = await store.steps.list(who, t["id"], run["id"])
    assert [s["id"] for s in steps["data"]] == [step["id"]]
    assert (await store.messages.list(who, t["id"], run_id=run["id"]))["data"] == [done]


async def test_create_run_needs_thread_and_assistant(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    with pytest.raises(NotFound) as e:
        await store.runs.create(who, t["id"], "asst_missing")
    assert e.value.kind == "assistant"
    with pytest.raises(NotFound) as e:
        await store.runs.create(who, "thread_missing", a["id"])
    assert e.value.kind == "thread"
    with pytest.raises(NotFound):
        await store.steps.list(who, t["id"], "run_missing")


async def test_thread_delete_cascades(store: Store) -> None:
    who = tenant()
    t, run, _ = await run_to_requires_action(store, who, "call_a")
    await store.runs.submit_tool_outputs(who, t["id"], run["id"], [{"tool_call_id": "call_a", "output": "1"}])
    other_a, other_t = await thread_with_assistant(store, who)
    await store.threads.delete(who, t["id"])
    for table in ("messages", "runs", "run_steps", "tool_results"):
        query = text(f"SELECT count(*) FROM {table} WHERE thread_id = :t")

        def count(conn: Connection, q: TextClause = query) -> object:
            return conn.scalar(q, {"t": t["id"]})

        assert await store.db.read(count) == 0, table
    with pytest.raises(NotFound):
        await store.runs.retrieve(who, t["id"], run["id"])
    assert await store.runs.get(run["id"]) is None
    # a new run on another thread is unaffected, and the old thread's active run no longer blocks anything
    assert (await store.runs.create(who, other_t["id"], other_a["id"]))["status"] == "queued"


async def test_message_changes_refused_while_run_active(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    first = (await store.messages.list(who, t["id"]))["data"][0]
    run = await store.runs.create(who, t["id"], a["id"])
    for attempt in (
        store.messages.add(who, t["id"], {"role": "user", "content": "x"}),
        store.messages.delete(who, t["id"], first["id"]),
        store.runs.create(who, t["id"], a["id"]),
    ):
        with pytest.raises(ThreadBusy) as e:
            await attempt
        assert (e.value.thread_id, e.value.run_id) == (t["id"], run["id"])
        assert str(e.value) == f"Thread {t['id']} already has an active run {run['id']}."
    await store.runs.transition(who, run["id"], ["queued"], "cancelled")
    assert (await store.messages.add(who, t["id"], {"role": "user", "content": "x"}))["role"] == "user"


async def test_finish_closes_reply_and_step_together(store: Store, clock: Clock) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    msg, step = await store.messages.start(who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"])
    clock.now += 3
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    text = [{"type": "text", "text": {"value": "partial", "annotations": []}}]
    done = await store.messages.finish(
        None,
        msg["id"],
        step["id"],
        content=text,
        status="incomplete",
        incomplete_details={"reason": "max_tokens"},
        replay={"content": "<think>x</think>partial"},
        usage=usage,
    )
    assert done is not None
    m, s = done
    assert (m["status"], m["incomplete_at"], m["completed_at"], m["incomplete_details"], m["content"]) == (
        "incomplete",
        START + 3,
        None,
        {"reason": "max_tokens"},
        text,
    )
    assert (s["status"], s["completed_at"], s["usage"]) == ("completed", START + 3, usage)
    assert await store.messages.finish(None, msg["id"], step["id"], content=text) is None
    (reply,) = [h for h in await store.history(who, t["id"]) if h.role == "assistant"]
    assert reply.raw_content == "<think>x</think>partial"
    # a failing step variant
    msg2, step2 = await store.messages.start(who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"])
    error = {"code": "server_error", "message": "upstream broke"}
    done = await store.messages.finish(who, msg2["id"], step2["id"], content=[], step_error=error)
    assert done is not None and (done[1]["status"], done[1]["failed_at"], done[1]["last_error"]) == (
        "failed",
        START + 3,
        error,
    )


async def test_cancel_with_children_and_step_updates(store: Store, clock: Clock) -> None:
    who = tenant()
    t, run, step = await run_to_requires_action(store, who, "call_a")
    details = tool_step_details("call_a")
    details["tool_calls"][0]["function"]["arguments"] = '{"q": 2}'
    updated = await store.steps.update(None, step["id"], step_details=details, replay={"tool_calls": []})
    assert updated is not None and updated["step_details"] == details
    clock.now += 7
    cancelled = await store.runs.transition(
        who, run["id"], ["queued", "in_progress", "requires_action"], "cancelled", close_children=True
    )
    assert cancelled is not None
    assert (
        cancelled["status"],
        cancelled["cancelled_at"],
        cancelled["required_action"],
        cancelled["expires_at"],
    ) == ("cancelled", START + 7, None, None)
    s = await store.steps.retrieve(who, t["id"], run["id"], step["id"])
    assert (s["status"], s["cancelled_at"], s["last_error"]) == ("cancelled", START + 7, None)
    assert await store.steps.update(None, step["id"], step_details=details) is None  # closed now
    with pytest.raises(TypeError):
        await store.runs.transition(who, run["id"], ["cancelled"], "failed", bogus=1)


async def test_ping_and_public_names(store: Store) -> None:
    import gateway.engine.store as pkg

    assert await store.ping() is True
    assert sorted(pkg.__all__) == sorted(
        name
        for name in vars(pkg)
        if not name.startswith("_")
        and name not in {"annotations"}
        and not isinstance(vars(pkg)[name], type(pkg))
    )
