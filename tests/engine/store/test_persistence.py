"""State survives closing the store and reopening the same SQLite file (and a second PostgreSQL pool)."""

from __future__ import annotations

import pytest

from gateway.engine.store import Store
from tests.engine.store.conftest import Clock
from tests.engine.store.helpers import run_to_requires_action, tenant

pytestmark = pytest.mark.asyncio


async def test_everything_is_there_after_a_restart(db_url: str, clock: Clock) -> None:
    who = tenant()
    first = await Store.open(db_url, clock=clock)
    t, run, _ = await run_to_requires_action(first, who, "call_a")
    a = await first.assistants.create(who, model="m", metadata={"k": "v"})
    before = (
        await first.threads.retrieve(who, t["id"]),
        await first.messages.list(who, t["id"]),
        await first.runs.retrieve(who, t["id"], run["id"]),
        await first.steps.list(who, t["id"], run["id"]),
        await first.assistants.list(who),
        await first.history(who, t["id"]),
    )
    await first.close()

    again = await Store.open(db_url, clock=clock, migrate=True)  # migrating at head changes nothing
    try:
        after = (
            await again.threads.retrieve(who, t["id"]),
            await again.messages.list(who, t["id"]),
            await again.runs.retrieve(who, t["id"], run["id"]),
            await again.steps.list(who, t["id"], run["id"]),
            await again.assistants.list(who),
            await again.history(who, t["id"]),
        )
        assert after == before
        assert after[4]["data"][0]["id"] == a["id"]
        queued, _ = await again.runs.submit_tool_outputs(
            who, t["id"], run["id"], [{"tool_call_id": "call_a", "output": "1"}]
        )
        assert queued["status"] == "queued"
    finally:
        await again.close()
