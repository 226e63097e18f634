"""history(): the thread's turns in order, with assistant tool calls and their results in between."""

from __future__ import annotations

import pytest

from gateway.engine.store import NotFound, Store
from tests.engine.store.helpers import required_action, tenant, thread_with_assistant, tool_step_details

pytestmark = pytest.mark.asyncio


def _text(value: str) -> list[dict[str, object]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


def _call(call_id: str) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


async def _wait_for_outputs(store: Store, who: str, thread_id: str, run_id: str, call_id: str) -> None:
    await store.runs.transition(
        who, run_id, ["in_progress"], "requires_action", required_action=required_action(call_id)
    )
    await store.runs.submit_tool_outputs(
        who, thread_id, run_id, [{"tool_call_id": call_id, "output": f"out:{call_id}"}]
    )
    await store.runs.transition(who, run_id, ["queued"], "in_progress")


async def test_history_with_tool_rounds(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    tid, aid = t["id"], a["id"]
    run = await store.runs.create(who, tid, aid)
    rid = run["id"]
    await store.runs.transition(who, rid, ["queued"], "in_progress")
    # turn 1: text and a tool call; the turn's replay lives on its message
    m1, s1 = await store.messages.start(who, thread_id=tid, run_id=rid, assistant_id=aid)
    await store.messages.complete(
        who,
        m1["id"],
        content=_text("Let me check"),
        replay={
            "reasoning": "need data",
            "reasoning_details": [{"type": "reasoning.text", "text": "need data"}],
            "tool_calls": [_call("call_a")],
        },
    )
    await store.steps.complete(who, s1["id"])
    await store.steps.create(
        who, thread_id=tid, run_id=rid, assistant_id=aid, step_details=tool_step_details("call_a")
    )
    await _wait_for_outputs(store, who, tid, rid, "call_a")
    # turn 2: tool call only; the replay lives on the step
    await store.steps.create(
        who,
        thread_id=tid,
        run_id=rid,
        assistant_id=aid,
        step_details=tool_step_details("call_b"),
        replay={"reasoning": "more", "tool_calls": [_call("call_b")]},
    )
    await _wait_for_outputs(store, who, tid, rid, "call_b")
    # turn 3: the answer
    m3, _ = await store.messages.start(who, thread_id=tid, run_id=rid, assistant_id=aid)
    await store.messages.complete(who, m3["id"], content=_text("Done"), replay={"reasoning": "ok"})
    await store.runs.transition(who, rid, ["in_progress"], "completed")
    m4 = await store.messages.add(who, tid, {"role": "user", "content": "thanks"})

    items = await store.history(who, tid)
    got = [
        (
            h.role,
            h.message_id,
            h.content[0]["text"]["value"] if h.content else None,
            [c["id"] for c in h.tool_calls],
            h.tool_call_id,
            h.output,
            h.reasoning,
        )
        for h in items
    ]
    first_user = items[0].message_id
    assert got == [
        ("user", first_user, "hello", [], None, None, None),
        ("assistant", m1["id"], "Let me check", ["call_a"], None, None, "need data"),
        ("tool", None, None, [], "call_a", "out:call_a", None),
        ("assistant", None, None, ["call_b"], None, None, "more"),
        ("tool", None, None, [], "call_b", "out:call_b", None),
        ("assistant", m3["id"], "Done", [], None, None, "ok"),
        ("user", m4["id"], "thanks", [], None, None, None),
    ]
    assert items[1].reasoning_details == [{"type": "reasoning.text", "text": "need data"}]
    assert {h.run_id for h in items[1:6]} == {rid}
    assert items[0].run_id is None and items[5].status == "completed"
    # the replay never reaches clients
    for m in (await store.messages.list(who, tid))["data"]:
        assert "replay" not in m and "reasoning" not in str(m)


async def test_history_of_missing_thread(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.history(tenant(), "thread_nope")
