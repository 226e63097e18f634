"""Cursor pages exactly as OpenAI: limit, order by creation (not by the tied created_at), after/before."""

from __future__ import annotations

import pytest

from gateway.engine.store import InvalidCursor, InvalidPage, Store
from tests.engine.store.helpers import tenant, thread_with_assistant

pytestmark = pytest.mark.asyncio


async def _walk(store: Store, who: str, order: str, limit: int) -> list[str]:
    """Follow `after` from page to page, as the SDKs' auto-pagination does."""
    ids: list[str] = []
    after = None
    while True:
        page = await store.assistants.list(who, limit=limit, order=order, after=after)
        ids += [a["id"] for a in page["data"]]
        assert page["first_id"] == (page["data"][0]["id"] if page["data"] else None)
        assert page["last_id"] == (page["data"][-1]["id"] if page["data"] else None)
        if not page["has_more"]:
            return ids
        after = page["last_id"]


async def test_pages_in_creation_order_with_equal_timestamps(store: Store) -> None:
    who = tenant()
    created = [(await store.assistants.create(who, model=f"m{i}"))["id"] for i in range(23)]  # one clock tick
    await store.assistants.create(tenant(), model="someone else's")
    for limit in (1, 5, 23, 100):
        assert await _walk(store, who, "asc", limit) == created
        assert await _walk(store, who, "desc", limit) == created[::-1]
    full = await store.assistants.list(who, limit=23, order="asc")
    assert full["has_more"] is False and full["object"] == "list"
    assert (await store.assistants.list(who, limit=22, order="asc"))["has_more"] is True
    assert len((await store.assistants.list(who))["data"]) == 20  # OpenAI's default limit


async def test_before_returns_the_objects_just_before_the_cursor(store: Store) -> None:
    who = tenant()
    ids = [(await store.assistants.create(who, model="m"))["id"] for _ in range(10)]
    page = await store.assistants.list(who, order="asc", before=ids[5], limit=2)
    assert ([a["id"] for a in page["data"]], page["has_more"]) == (ids[3:5], True)
    page = await store.assistants.list(who, order="asc", before=ids[2], limit=5)
    assert ([a["id"] for a in page["data"]], page["has_more"]) == (ids[0:2], False)
    page = await store.assistants.list(who, order="desc", before=ids[5], limit=2)
    assert ([a["id"] for a in page["data"]], page["has_more"]) == ([ids[7], ids[6]], True)
    page = await store.assistants.list(who, order="desc", before=ids[7], limit=3)
    assert ([a["id"] for a in page["data"]], page["has_more"]) == ([ids[9], ids[8]], False)
    page = await store.assistants.list(who, order="asc", after=ids[1], before=ids[6], limit=3)
    assert ([a["id"] for a in page["data"]], page["has_more"]) == (ids[2:5], True)
    empty = await store.assistants.list(who, order="asc", after=ids[9])
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


async def test_bad_cursor_limit_and_order(store: Store) -> None:
    who = tenant()
    _, t = await thread_with_assistant(store, who)
    other_thread = await store.threads.create(who, messages=[{"role": "user", "content": "x"}])
    foreign_msg = (await store.messages.list(who, other_thread["id"]))["data"][0]["id"]
    for kwargs in ({"after": "msg_unknown"}, {"before": "msg_unknown"}, {"after": foreign_msg}):
        with pytest.raises(InvalidCursor) as e:
            await store.messages.list(who, t["id"], **kwargs)
        assert e.value.param in ("after", "before")
    for bad in (0, 101):
        with pytest.raises(InvalidPage) as p:
            await store.assistants.list(who, limit=bad)
        assert p.value.param == "limit"
    with pytest.raises(InvalidPage):
        await store.assistants.list(who, order="sideways")


async def test_messages_list_filters_by_run_in_sql(store: Store) -> None:
    who = tenant()
    a, t = await thread_with_assistant(store, who)
    replies = []
    for _ in range(3):
        run = await store.runs.create(who, t["id"], a["id"])
        msg, _step = await store.messages.start(
            who, thread_id=t["id"], run_id=run["id"], assistant_id=a["id"]
        )
        await store.runs.transition(who, run["id"], ["queued"], "completed")
        await store.messages.add(who, t["id"], {"role": "user", "content": "next"})
        replies.append((run["id"], msg["id"]))
    run_id, msg_id = replies[1]
    page = await store.messages.list(who, t["id"], run_id=run_id, limit=1)
    assert ([m["id"] for m in page["data"]], page["has_more"]) == ([msg_id], False)  # limit+1 applied in SQL
    assert len((await store.messages.list(who, t["id"], limit=100))["data"]) == 1 + 3 + 3
