"""Files, vector stores, their files and batches in the store, on SQLite and PostgreSQL: visibility of
uploads, counts, tenancy, cascades, expiry, and the ingestion leases."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.engine.store import InvalidPage, NotFound, Store
from gateway.engine.store.ingestion import IngestJob, NewChunk
from gateway.engine.store.store_files import NewStoreFile, StoreExpired
from tests.engine.store.conftest import Clock
from tests.engine.store.helpers import tenant

pytestmark = pytest.mark.asyncio
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
TTL = 30.0


async def upload(
    store: Store, owner: str, data: bytes = b"hello world", name: str = "a.txt", **kw: Any
) -> str:
    file_id = await store.files.begin(owner, filename=name, purpose="assistants", expires_at=None)
    for i in range(0, max(len(data), 1), 4):
        await store.files.write_part(file_id, i // 4, data[i : i + 4])
    return str((await store.files.finish(owner, file_id, len(data), **kw))["id"])


def new(file_id: str, **attributes: Any) -> NewStoreFile:
    return NewStoreFile(file_id, STATIC, attributes or None)


async def ingest(store: Store, job: IngestJob, texts: list[str]) -> None:
    assert await store.ingestion.restart(job, TTL)
    chunks = [NewChunk(i, text, text.lower()) for i, text in enumerate(texts)]
    assert await store.ingestion.add_chunks(job, TTL, chunks)
    assert await store.ingestion.complete(job, sum(len(t) for t in texts))


async def test_an_upload_is_invisible_until_finished_and_its_parts_read_back(store: Store) -> None:
    owner = tenant()
    file_id = await store.files.begin(owner, filename="x.bin", purpose="", expires_at=None)
    await store.files.write_part(file_id, 0, b"ab")
    with pytest.raises(NotFound):
        await store.files.retrieve(owner, file_id)
    assert (await store.files.list(owner))["data"] == []
    await store.files.write_part(file_id, 1, b"cd")
    done = await store.files.finish(owner, file_id, 4, purpose="user_data", expires_after=3600)
    assert done["purpose"] == "user_data" and done["bytes"] == 4
    assert done["expires_at"] == done["created_at"] + 3600
    assert [await store.files.part(file_id, i) for i in range(3)] == [b"ab", b"cd", None]
    await store.files.discard(file_id)
    with pytest.raises(NotFound):
        await store.files.retrieve(owner, file_id)
    assert await store.files.part(file_id, 0) is None


async def test_files_list_by_purpose_with_large_pages(store: Store) -> None:
    owner = tenant()
    ids = [await upload(store, owner, purpose="assistants" if i % 2 else "user_data") for i in range(5)]
    listed = await store.files.list(owner, purpose="assistants", limit=1000, order="asc")
    assert [f["id"] for f in listed["data"]] == ids[1::2]
    assert (await store.files.list(owner, limit=2))["has_more"] is True
    with pytest.raises(InvalidPage, match="between 1 and 10000"):
        await store.files.list(owner, limit=10_001)


async def test_vector_store_counts_and_deleting_a_file_removes_it_from_stores(store: Store) -> None:
    owner = tenant()
    a, b = await upload(store, owner), await upload(store, owner)
    vs = await store.vector_stores.create(owner, name="docs", files=[new(a), new(b)])
    assert vs["status"] == "in_progress" and vs["file_counts"]["in_progress"] == 2
    (job, *_) = await store.ingestion.claim("w", TTL, 1)
    await ingest(store, job, ["one", "two"])
    before = await store.vector_stores.retrieve(owner, vs["id"])
    assert before["file_counts"] | {} == {
        "in_progress": 1,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "total": 2,
    }
    assert before["usage_bytes"] == 6
    await store.files.delete(owner, job.file_id)
    after = await store.vector_stores.retrieve(owner, vs["id"])
    assert after["file_counts"]["total"] == 1 and after["usage_bytes"] == 0
    assert (await store.search.generations([vs["id"]]))[vs["id"]] >= 2  # completed, then a file gone


async def test_tenancy_of_files_and_stores(store: Store) -> None:
    owner, intruder = tenant(), tenant()
    file_id = await upload(store, owner)
    vs = await store.vector_stores.create(owner, name="mine")
    with pytest.raises(NotFound):
        await store.files.retrieve(intruder, file_id)
    with pytest.raises(NotFound):
        await store.vector_stores.retrieve(intruder, vs["id"])
    with pytest.raises(NotFound):  # another tenant's file cannot be put in a store
        await store.vector_stores.create(intruder, name="theirs", files=[new(file_id)])
    theirs = await store.vector_stores.create(intruder, name="theirs")
    with pytest.raises(NotFound):
        await store.store_files.attach(intruder, theirs["id"], new(file_id))
    with pytest.raises(NotFound):
        await store.store_files.attach(intruder, vs["id"], new(await upload(store, intruder)))
    assert (await store.vector_stores.list(intruder))["data"][0]["id"] == theirs["id"]
    assert [s["id"] for s in (await store.vector_stores.list(owner))["data"]] == [vs["id"]]


async def test_a_file_is_in_a_store_once_and_a_batch_counts_it(store: Store) -> None:
    owner = tenant()
    a = await upload(store, owner)
    vs = await store.vector_stores.create(owner, name="s", files=[new(a)])
    batch = await store.file_batches.create(owner, vs["id"], [new(a), new(a)])
    assert batch["file_counts"]["total"] == 1
    assert (await store.store_files.list(owner, vs["id"]))["data"][0]["id"] == a


async def test_cancelling_a_batch_stops_its_worker_and_drops_its_chunks(store: Store) -> None:
    owner = tenant()
    ids = [await upload(store, owner) for _ in range(2)]
    vs = await store.vector_stores.create(owner, name="s")
    batch = await store.file_batches.create(owner, vs["id"], [new(i) for i in ids])
    jobs = await store.ingestion.claim("w", TTL, 5)
    assert {j.file_id for j in jobs} == set(ids)
    assert await store.ingestion.restart(jobs[0], TTL)
    assert await store.ingestion.add_chunks(jobs[0], TTL, [NewChunk(0, "x", "x")])
    cancelled = await store.file_batches.cancel(owner, vs["id"], batch["id"])
    assert cancelled["status"] == "cancelled" and cancelled["file_counts"]["cancelled"] == 2
    assert not await store.ingestion.add_chunks(jobs[0], TTL, [NewChunk(1, "y", "y")])
    assert not await store.ingestion.complete(jobs[0], 1)
    content = await store.store_files.content(owner, vs["id"], jobs[0].file_id)
    assert content["data"] == []


async def test_a_lapsed_lease_is_taken_over_and_the_first_worker_is_refused(
    store: Store, clock: Clock
) -> None:
    owner = tenant()
    vs = await store.vector_stores.create(owner, name="s", files=[new(await upload(store, owner))])
    (job,) = await store.ingestion.claim("first", TTL, 5)
    assert job.attempts == 1
    assert await store.ingestion.restart(job, TTL)
    assert await store.ingestion.add_chunks(job, TTL, [NewChunk(0, "partial", "partial")])
    assert await store.ingestion.claim("second", TTL, 5) == []  # held
    clock.now += int(TTL) + 1
    (again,) = await store.ingestion.claim("second", TTL, 5)
    assert again.attempts == 2
    assert not await store.ingestion.add_chunks(job, TTL, [NewChunk(1, "late", "late")])
    await ingest(store, again, ["whole"])
    content = await store.store_files.content(owner, vs["id"], job.file_id)
    assert [c["text"] for c in content["data"]] == ["whole"]  # the first attempt's chunk was dropped


async def test_next_free_says_when_a_file_may_be_claimed(store: Store, clock: Clock) -> None:
    """What an idle worker reads instead of trying a claim: 0 while a file is free, the seconds until
    the clock has passed a lease's end while every queued file is held, nothing once none is queued."""
    owner = tenant()
    assert await store.ingestion.next_free() is None  # nothing queued
    await store.vector_stores.create(owner, name="s", files=[new(await upload(store, owner))])
    assert await store.ingestion.next_free() == 0  # free: a claim would take it
    (job,) = await store.ingestion.claim("w", TTL, 5)
    assert await store.ingestion.next_free() == TTL + 1  # held until the clock passes its lease
    await store.ingestion.release(job, retry_after=7)
    assert await store.ingestion.next_free() == 8
    clock.now += 7
    assert await store.ingestion.claim("w", TTL, 5) == []  # at the lease's end: not yet passed
    assert await store.ingestion.next_free() == 1
    clock.now += 1
    (again,) = await store.ingestion.claim("w", TTL, 5)  # free once the clock passed it, as said
    await ingest(store, again, ["done"])
    assert await store.ingestion.next_free() is None  # completed: nothing waits


async def test_the_same_worker_taking_a_file_again_stops_its_first_attempt(
    store: Store, clock: Clock
) -> None:
    """A lease that lapsed under a slow attempt: the worker's own new claim is a new lease, and the
    first attempt's writes are refused, so two attempts never write chunks side by side."""
    owner = tenant()
    vs = await store.vector_stores.create(owner, name="s", files=[new(await upload(store, owner))])
    (first,) = await store.ingestion.claim("w", TTL, 5)
    assert await store.ingestion.restart(first, TTL)
    clock.now += int(TTL) + 1
    (second,) = await store.ingestion.claim("w", TTL, 5)
    assert second.lease != first.lease
    assert await store.ingestion.restart(second, TTL)
    assert not await store.ingestion.add_chunks(first, TTL, [NewChunk(0, "stale", "stale")])
    assert await store.ingestion.renew([first, second], TTL) == {second.seq}
    assert not await store.ingestion.complete(first, 5)
    await ingest(store, second, ["fresh"])
    content = await store.store_files.content(owner, vs["id"], second.file_id)
    assert [c["text"] for c in content["data"]] == ["fresh"]


async def test_a_failed_file_keeps_its_error_and_no_chunks(store: Store) -> None:
    owner = tenant()
    vs = await store.vector_stores.create(owner, name="s", files=[new(await upload(store, owner))])
    (job,) = await store.ingestion.claim("w", TTL, 1)
    assert await store.ingestion.restart(job, TTL)
    assert await store.ingestion.add_chunks(job, TTL, [NewChunk(0, "x", "x")])
    assert await store.ingestion.fail(job, "invalid_file", "broken")
    got = await store.store_files.retrieve(owner, vs["id"], job.file_id)
    assert got["status"] == "failed" and got["last_error"] == {"code": "invalid_file", "message": "broken"}
    assert (await store.store_files.content(owner, vs["id"], job.file_id))["data"] == []
    assert (await store.vector_stores.retrieve(owner, vs["id"]))["status"] == "completed"


async def test_expiry_of_stores_and_files(store: Store, clock: Clock) -> None:
    owner = tenant()
    short = await upload(store, owner, expires_after=3600)
    kept = await upload(store, owner)
    vs = await store.vector_stores.create(
        owner, name="s", expires_after={"anchor": "last_active_at", "days": 1}
    )
    assert vs["expires_at"] == clock.now + 86_400
    clock.now += 3_000
    await store.vector_stores.touch([vs["id"]])  # activity moves the expiry
    assert (await store.vector_stores.retrieve(owner, vs["id"]))["expires_at"] == clock.now + 86_400
    assert await store.files.sweep(clock.now) == []
    clock.now += 86_401
    assert await store.files.sweep(clock.now) == [short]
    assert await store.vector_stores.sweep(clock.now) == [vs["id"]]
    assert (await store.vector_stores.retrieve(owner, vs["id"]))["status"] == "expired"
    with pytest.raises(StoreExpired):
        await store.store_files.attach(owner, vs["id"], new(kept))
    await store.files.retrieve(owner, kept)


async def test_keyword_search_on_the_database_finds_cjk_and_only_completed_files(store: Store) -> None:
    from gateway.engine.retrieval.analyze import fts5_query, index_text, query_terms, tsquery

    owner = tenant()
    texts = {
        "en": "The refund policy allows returns within thirty days.",
        "zh": "退款政策：客户可以在三十天内退货。",  # noqa: RUF001
        "ja": "返金ポリシー：お客様は三十日以内に返品できます。",  # noqa: RUF001
        "dots": "Release notes for v2.0, at docs.example.com/release_notes.",
    }
    ids = {k: await upload(store, owner, name=f"{k}.txt") for k in texts}
    pending = await upload(store, owner, name="pending.txt")
    vs = await store.vector_stores.create(owner, name="s", files=[new(i) for i in [*ids.values(), pending]])
    jobs = {j.file_id: j for j in await store.ingestion.claim("w", TTL, 10)}
    for key, file_id in ids.items():
        job = jobs[file_id]
        assert await store.ingestion.restart(job, TTL)
        chunk = NewChunk(0, texts[key], index_text(texts[key]))
        assert await store.ingestion.add_chunks(job, TTL, [chunk])
        assert await store.ingestion.complete(job, len(texts[key]))
    job = jobs[pending]  # chunks written, the file not completed: not searchable yet
    assert await store.ingestion.add_chunks(job, TTL, [NewChunk(0, "refund", "refund")])

    def expression(query: str) -> str:
        terms = query_terms(query)
        return tsquery(terms) if store.db.postgres else fts5_query(terms)

    cases = [
        ("refund policy", "en"),
        ("退款政策是什么", "zh"),
        ("返金ポリシーについて", "ja"),
        ("what changed in v2.0?", "dots"),  # PostgreSQL's parser would keep "v2.0" whole
        ("example.com release_notes", "dots"),
    ]
    for query, key in cases:
        hits = await store.search.keyword([vs["id"]], expression(query), 5)
        assert hits and hits[0].file_id == ids[key], (query, hits)
        assert all(h.file_id != pending for h in hits)
    only = await store.search.keyword([vs["id"]], expression("refund 退款"), 5, [ids["zh"]])
    assert [h.file_id for h in only] == [ids["zh"]]
    assert await store.search.keyword([vs["id"]], expression("nothing-here"), 5) == []
