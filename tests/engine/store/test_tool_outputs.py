"""submit_tool_outputs: exactly the required calls, once each, on a requires_action run, and only once."""

from __future__ import annotations

import asyncio

import pytest

from gateway.engine.store import RunStateConflict, Store, ToolOutputsMismatch
from tests.engine.store.helpers import run_to_requires_action, tenant

pytestmark = pytest.mark.asyncio


async def test_outputs_land_in_step_and_run_is_requeued(store: Store) -> None:
    who = tenant()
    t, run, step = await run_to_requires_action(store, who, "call_a", "call_b")
    assert run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"] == "call_a"
    queued, done = await store.runs.submit_tool_outputs(
        who,
        t["id"],
        run["id"],
        [
            {"tool_call_id": "call_b", "output": "B"},
            {"tool_call_id": "call_a", "output": "A"},
        ],
    )
    assert (queued["status"], queued["required_action"]) == ("queued", None)
    assert done["id"] == step["id"] and done["status"] == "completed"
    assert [c["function"]["output"] for c in done["step_details"]["tool_calls"]] == ["A", "B"]
    assert await store.steps.retrieve(who, t["id"], run["id"], step["id"]) == done
    tools = [(h.tool_call_id, h.output) for h in await store.history(who, t["id"]) if h.role == "tool"]
    assert tools == [("call_a", "A"), ("call_b", "B")]  # in call order, whatever order they came in


@pytest.mark.parametrize(
    ("outputs", "problem"),
    [
        (["call_a"], {"missing": ["call_b"]}),
        (["call_a", "call_b", "call_z"], {"unknown": ["call_z"]}),
        (["call_a", "call_b", "call_a"], {"duplicate": ["call_a"]}),
        ([], {"missing": ["call_a", "call_b"]}),
    ],
)
async def test_mismatched_outputs_are_refused(
    store: Store, outputs: list[str], problem: dict[str, list[str]]
) -> None:
    who = tenant()
    t, run, _ = await run_to_requires_action(store, who, "call_a", "call_b")
    with pytest.raises(ToolOutputsMismatch) as e:
        await store.runs.submit_tool_outputs(
            who, t["id"], run["id"], [{"tool_call_id": c, "output": "x"} for c in outputs]
        )
    got = {
        k: v
        for k, v in (
            ("missing", e.value.missing),
            ("unknown", e.value.unknown),
            ("duplicate", e.value.duplicate),
        )
        if v
    }
    assert got == problem
    for name, ids in problem.items():
        assert f"{name}: {', '.join(ids)}" in str(e.value)
    assert (await store.runs.retrieve(who, t["id"], run["id"]))["status"] == "requires_action"  # rolled back
    assert [h for h in await store.history(who, t["id"]) if h.role == "tool"] == []


async def test_wrong_status_is_refused(store: Store) -> None:
    who = tenant()
    t, run, _ = await run_to_requires_action(store, who, "call_a")
    await store.runs.transition(who, run["id"], ["requires_action"], "cancelled")
    with pytest.raises(RunStateConflict) as e:
        await store.runs.submit_tool_outputs(
            who, t["id"], run["id"], [{"tool_call_id": "call_a", "output": "x"}]
        )
    assert e.value.status == "cancelled"


async def test_concurrent_double_submit_one_wins(store: Store) -> None:
    who = tenant()
    t, run, _ = await run_to_requires_action(store, who, "call_a")
    results = await asyncio.gather(
        *(
            store.runs.submit_tool_outputs(
                who, t["id"], run["id"], [{"tool_call_id": "call_a", "output": str(i)}]
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, tuple)]
    assert len(won) == 1 and all(isinstance(r, RunStateConflict) for r in results if r not in won), results
    winner_output = won[0][1]["step_details"]["tool_calls"][0]["function"]["output"]
    tools = [h for h in await store.history(who, t["id"]) if h.role == "tool"]
    assert [h.output for h in tools] == [winner_output]
