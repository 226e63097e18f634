"""Another tenant's objects are "not found" for every read, list, update and delete, and absent from lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.engine.store import InvalidCursor, NotFound, Store
from tests.engine.store.helpers import run_to_requires_action, tenant

pytestmark = pytest.mark.asyncio


async def test_other_tenant_sees_nothing(store: Store) -> None:
    owner, intruder = tenant(), tenant()
    t, run, step = await run_to_requires_action(store, owner, "call_x")
    a = await store.assistants.create(owner, model="m")
    msg = (await store.messages.list(owner, t["id"]))["data"][0]
    tid, rid, sid, mid = t["id"], run["id"], step["id"], msg["id"]
    attempts: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.assistants.retrieve(intruder, a["id"]),
        lambda: store.assistants.modify(intruder, a["id"], {"name": "x"}),
        lambda: store.assistants.delete(intruder, a["id"]),
        lambda: store.threads.retrieve(intruder, tid),
        lambda: store.threads.modify(intruder, tid, {"metadata": {}}),
        lambda: store.threads.delete(intruder, tid),
        lambda: store.messages.add(intruder, tid, {"role": "user", "content": "x"}),
        lambda: store.messages.retrieve(intruder, tid, mid),
        lambda: store.messages.list(intruder, tid),
        lambda: store.messages.modify(intruder, tid, mid, metadata={}),
        lambda: store.messages.delete(intruder, tid, mid),
        lambda: store.runs.create(intruder, tid, a["id"]),
        lambda: store.runs.retrieve(intruder, tid, rid),
        lambda: store.runs.list(intruder, tid),
        lambda: store.runs.modify(intruder, tid, rid, metadata={}),
        lambda: store.runs.submit_tool_outputs(
            intruder, tid, rid, [{"tool_call_id": "call_x", "output": "1"}]
        ),
        lambda: store.steps.retrieve(intruder, tid, rid, sid),
        lambda: store.steps.list(intruder, tid, rid),
        lambda: store.history(intruder, tid),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt()
    assert await store.runs.transition(intruder, rid, ["requires_action"], "cancelled") is None
    assert not await store.messages.checkpoint(intruder, mid, [])
    # the intruder's own assistant with its list: the owner's is absent, and not usable as a cursor
    mine = await store.assistants.create(intruder, model="m")
    listed = await store.assistants.list(intruder)
    assert [x["id"] for x in listed["data"]] == [mine["id"]]
    with pytest.raises(InvalidCursor):
        await store.assistants.list(intruder, after=a["id"])
    # and the owner still has everything
    assert (await store.runs.retrieve(owner, tid, rid))["status"] == "requires_action"
    assert (await store.assistants.retrieve(owner, a["id"]))["id"] == a["id"]
    assert len((await store.messages.list(owner, tid))["data"]) == 1
