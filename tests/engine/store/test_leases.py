"""Leases (claim, renewal, lost lease, release) and the sweeps: orphaned runs fail, due runs expire."""

from __future__ import annotations

import asyncio

import pytest

from gateway.engine.store import Store
from tests.engine.store.conftest import Clock
from tests.engine.store.helpers import run_to_requires_action, tenant, thread_with_assistant

pytestmark = pytest.mark.asyncio


async def test_claim_renew_and_lost_lease(store: Store, clock: Clock) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    assert await store.leases.claim(run["id"], "w1", 30)
    assert await store.leases.claim(run["id"], "w1", 30)  # ours already
    assert not await store.leases.claim(run["id"], "w2", 30)
    clock.now += 20
    await store.leases.renew([run["id"]], "w1", 30)  # now until +50
    clock.now += 25
    assert not await store.leases.claim(run["id"], "w2", 30)  # still held thanks to the renewal
    clock.now += 10
    assert await store.leases.claim(run["id"], "w2", 30)  # lapsed: taken over (until +85)
    await store.leases.renew([run["id"]], "w1", 60)  # w1 lost it: nothing renewed (else until +115)
    clock.now += 31
    assert await store.leases.claim(run["id"], "w3", 30)  # w2's lease lapsed at +85
    assert await store.leases.release(run["id"], "w3")
    assert not await store.leases.release(run["id"], "w3")
    assert await store.leases.claim(run["id"], "w4", 30)
    await store.runs.transition(None, run["id"], ["queued"], "completed")
    assert not await store.leases.claim(run["id"], "w5", 30)  # ended runs are not leasable


async def test_renew_extends_the_listed_runs_this_owner_still_holds(store: Store, clock: Clock) -> None:
    who = tenant()
    runs = []
    for _ in range(4):
        a, t = await thread_with_assistant(store, who)
        run = await store.runs.create(who, t["id"], a["id"])
        assert await store.leases.claim(run["id"], "w1", 30)
        runs.append(run["id"])
    mine, lost, unlisted, ended = runs
    assert await store.leases.release(lost, "w1")
    assert await store.leases.claim(lost, "w2", 30)
    await store.runs.transition(None, ended, ["queued"], "completed")
    clock.now += 20
    await store.leases.renew([mine, lost, ended], "w1", 30)  # until +50, for `mine` alone
    await store.leases.renew([], "w1", 30)
    clock.now += 15  # the first leases lapsed at +30
    assert [r["id"] for r in await store.leases.orphans(clock.now)] == [lost, unlisted]
    assert not await store.leases.claim(mine, "w2", 30)  # renewed: still w1's


async def test_orphans_fail_with_their_steps_and_messages(store: Store, clock: Clock) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    assert await store.leases.claim(run["id"], "dead", 10)
    await store.runs.transition(None, run["id"], ["queued"], "in_progress")
    msg, step = await store.messages.start(who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"])
    waiting_t, waiting, _ = await run_to_requires_action(store, who, "call_1")  # no lease needed: untouched
    live_a, live_t = await thread_with_assistant(store, who)
    live = await store.runs.create(who, live_t["id"], live_a["id"])
    assert await store.leases.claim(live["id"], "alive", 1000)

    clock.now += 11
    assert [r["id"] for r in await store.leases.orphans(clock.now)] == [run["id"]]
    failed = await store.leases.fail_orphans(clock.now, "The engine stopped while running this run.")
    assert [r["id"] for r in failed] == [run["id"]]
    r = failed[0]
    assert (r["status"], r["failed_at"], r["expires_at"]) == ("failed", clock.now, None)
    assert r["last_error"] == {
        "code": "server_error",
        "message": "The engine stopped while running this run.",
    }
    s = await store.steps.retrieve(who, t["id"], run["id"], step["id"])
    assert (s["status"], s["failed_at"], s["last_error"]) == ("failed", clock.now, r["last_error"])
    m = await store.messages.retrieve(who, t["id"], msg["id"])
    assert (m["status"], m["incomplete_at"], m["incomplete_details"]) == (
        "incomplete",
        clock.now,
        {"reason": "run_failed"},
    )
    assert await store.leases.fail_orphans(clock.now, "again") == []
    assert (await store.runs.retrieve(who, waiting_t["id"], waiting["id"]))["status"] == "requires_action"
    assert (await store.runs.retrieve(who, live_t["id"], live["id"]))["status"] == "queued"
    assert not await store.leases.claim(run["id"], "dead", 10)  # failed: not leasable


async def test_unclaimed_queued_run_becomes_an_orphan_after_the_default_lease(
    store: Store, clock: Clock
) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    run = await store.runs.create(who, t["id"], a["id"])
    clock.now += 59
    assert await store.leases.fail_orphans(clock.now, "x") == []
    clock.now += 2
    assert [r["id"] for r in await store.leases.fail_orphans(clock.now, "x")] == [run["id"]]


async def test_two_concurrent_sweepers_never_act_twice(store: Store, db_url: str, clock: Clock) -> None:
    who = tenant()
    ids = set()
    for _ in range(12):
        a, t = await thread_with_assistant(store, who)
        run = await store.runs.create(who, t["id"], a["id"])
        await store.messages.start(who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"])
        ids.add(run["id"])
    clock.now += 3600
    other = await Store.open(db_url, clock=clock)  # a second replica: its own pool
    try:
        first, second = await asyncio.gather(
            store.leases.fail_orphans(clock.now, "swept"), other.leases.fail_orphans(clock.now, "swept")
        )
    finally:
        await other.close()
    a_ids, b_ids = {r["id"] for r in first}, {r["id"] for r in second}
    assert a_ids | b_ids == ids and not a_ids & b_ids
    assert len(first) + len(second) == 12


async def test_expiry_of_runs_waiting_for_tool_outputs(store: Store, clock: Clock) -> None:
    who = tenant()
    t, run, step = await run_to_requires_action(store, who, "call_1")
    due_at = run["expires_at"]
    assert due_at == clock.now + 600
    clock.now += 10
    t2, later, _ = await run_to_requires_action(store, who, "call_2")
    clock.now = due_at - 1
    assert await store.leases.expire_due(clock.now) == []
    clock.now = due_at
    expired = await store.leases.expire_due(clock.now)
    assert [r["id"] for r in expired] == [run["id"]]
    assert (expired[0]["status"], expired[0]["required_action"], expired[0]["expires_at"]) == (
        "expired",
        None,
        due_at,
    )
    s = await store.steps.retrieve(who, t["id"], run["id"], step["id"])
    assert (s["status"], s["expired_at"], s["last_error"]) == ("expired", due_at, None)
    assert (await store.runs.retrieve(who, t2["id"], later["id"]))["status"] == "requires_action"
    # the thread is free again
    assert (await store.messages.add(who, t["id"], {"role": "user", "content": "again"}))[
        "status"
    ] == "completed"
