"""Files and vector stores through the real Python SDK (openai 3.x, sync), on the engine over SQLite and
over PostgreSQL: uploads and downloads, vector stores and their files and batches, search in three
languages with filters and ranking options, real PDF and Word documents, chunking, cancel, tenancy,
expiry; hybrid search (keywords fused with embeddings); and the bridge refusing it all."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types import FilePurpose, StaticFileChunkingStrategyObjectParam, VectorStore

from gateway.emulator.config import EmulatorConfig
from gateway.engine.retrieval.analyze import search_terms
from tests.e2e.conftest import serve
from tests.e2e.files_helpers import (
    ATTRIBUTES,
    DOCUMENTS,
    EVERYWHERE,
    QUERIES,
    Gateway,
    check_keyword_index,
    chunk_texts,
    docx_bytes,
    engine_gateway,
    execute,
    numbered_text,
    pdf_bytes,
    pg_database,
    poll,
    scalar,
    settled_file,
    settled_store,
    terms_of,
)

SMALL_CHUNKS: StaticFileChunkingStrategyObjectParam = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
}
AUTO_AS_SHOWN = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}


def new_key() -> str:
    """A key of its own: each key is its own tenant, so every test sees only what it made."""
    return f"sk-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    database_url = (
        pg_database(request.getfixturevalue("pg_server")) if request.param == "postgresql" else None
    )
    with engine_gateway(tmp_path_factory.mktemp(f"files-{request.param}"), database_url=database_url) as gw:
        yield gw


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hybrid(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The engine with an embeddings endpoint (the emulator's): search is hybrid."""
    database_url = (
        pg_database(request.getfixturevalue("pg_server")) if request.param == "postgresql" else None
    )
    directory = tmp_path_factory.mktemp(f"files-hybrid-{request.param}")
    with engine_gateway(directory, database_url=database_url, embeddings=True) as gw:
        yield gw


@dataclass
class Corpus:
    client: openai.OpenAI
    store_id: str
    ids: dict[str, str]  # document name -> file id

    def names(self, data: list[Any]) -> list[str]:
        by_id = {file_id: name for name, file_id in self.ids.items()}
        return [by_id[r.file_id] for r in data]


def make_corpus(gateway: Gateway) -> Corpus:
    """The four documents in one store, in small chunks, each with its attributes (`files` of a batch)."""
    client = gateway.client(new_key())
    ids = {
        name: client.files.create(file=(name, text.encode()), purpose="assistants").id
        for name, text in DOCUMENTS.items()
    }
    store = client.vector_stores.create(name="corpus")
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id,
        files=[
            {"file_id": ids[name], "attributes": ATTRIBUTES[name], "chunking_strategy": SMALL_CHUNKS}
            for name in DOCUMENTS
        ],
        poll_interval_ms=50,
    )
    assert batch.status == "completed", batch
    assert (batch.file_counts.completed, batch.file_counts.total) == (4, 4), batch.file_counts
    return Corpus(client, store.id, ids)


@pytest.fixture(scope="module")
def corpus(engine: Gateway) -> Corpus:
    return make_corpus(engine)


@pytest.fixture(scope="module")
def hybrid_corpus(hybrid: Gateway) -> Corpus:
    return make_corpus(hybrid)


def test_each_query_has_words_in_its_own_document_only() -> None:
    """The search tests' premise: a query's words (and CJK bigrams) are in its document and no other."""
    for query, home in QUERIES.values():
        for name, text in DOCUMENTS.items():
            shared = terms_of(query) & terms_of(text)
            assert bool(shared) == (name == home), (query, name, shared)


# -- files ---------------------------------------------------------------------------------------------


def test_upload_bytes_and_a_file_on_disk_then_retrieve(engine: Gateway, tmp_path: Path) -> None:
    client = engine.client(new_key())
    made = client.files.create(file=("notes.txt", b"first line\nsecond line\n"), purpose="assistants")
    assert (made.object, made.filename, made.bytes, made.purpose) == ("file", "notes.txt", 23, "assistants")
    assert made.id.startswith("file-") and made.status == "processed" and made.expires_at is None
    on_disk = tmp_path / "report on disk.md"
    on_disk.write_text("# Report\n\nWritten to disk first. Ünïcödé too.\n", encoding="utf-8")
    with on_disk.open("rb") as handle:
        from_disk = client.files.create(file=handle, purpose="user_data")
    assert from_disk.filename == "report on disk.md"
    assert from_disk.bytes == on_disk.stat().st_size
    got = client.files.retrieve(from_disk.id)
    assert got.model_dump() == from_disk.model_dump()
    assert client.files.content(from_disk.id).content == on_disk.read_bytes()
    named = client.files.create(file=("报告 2024 — Q3 «final».txt", "季度报告".encode()), purpose="user_data")
    assert client.files.retrieve(named.id).filename == "报告 2024 — Q3 «final».txt"
    download = client.files.content(named.id)
    assert download.content == "季度报告".encode()
    assert "filename*=UTF-8''" in download.response.headers["content-disposition"]


def test_list_by_purpose_in_pages_and_auto_paginated(engine: Gateway) -> None:
    client = engine.client(new_key())
    purposes: list[FilePurpose] = ["assistants", "user_data", "assistants", "user_data", "assistants"]
    made = [client.files.create(file=(f"f{i}.txt", b"x"), purpose=p) for i, p in enumerate(purposes)]
    newest_first = [f.id for f in reversed(made)]
    everything = client.files.list()
    assert [f.id for f in everything.data] == newest_first
    assistants = [f.id for f in reversed(made) if f.purpose == "assistants"]
    assert [f.id for f in client.files.list(purpose="assistants").data] == assistants
    assert [f.id for f in client.files.list(purpose="user_data").data] == [
        f.id for f in reversed(made) if f.purpose == "user_data"
    ]
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == newest_first[:2] and first.has_more
    second = client.files.list(limit=2, after=first.data[-1].id)
    assert [f.id for f in second.data] == newest_first[2:4] and second.has_more
    last = client.files.list(limit=2, after=second.data[-1].id)
    assert [f.id for f in last.data] == newest_first[4:] and not last.has_more
    assert [f.id for f in client.files.list(limit=2)] == newest_first  # walks all three pages
    for bad in (0, 10_001):
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.list(limit=bad)
        assert caught.value.param == "limit"
    assert [f.id for f in client.files.list(limit=1, purpose="assistants", order="asc")] == assistants[::-1]


def test_delete_then_not_found_in_openai_error_shape(engine: Gateway) -> None:
    client = engine.client(new_key())
    made = client.files.create(file=("gone.txt", b"soon gone"), purpose="assistants")
    deleted = client.files.delete(made.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (made.id, "file", True)
    for call in (client.files.retrieve, client.files.delete, client.files.content):
        with pytest.raises(openai.NotFoundError) as caught:
            call(made.id)
        assert caught.value.status_code == 404
        assert caught.value.type == "invalid_request_error"
        assert made.id in caught.value.message
    assert made.id not in [f.id for f in client.files.list()]


def test_content_refused_for_assistants_and_exact_for_user_data(engine: Gateway) -> None:
    client = engine.client(new_key())
    private = client.files.create(file=("a.txt", b"private"), purpose="assistants")
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.content(private.id)
    assert "assistants" in caught.value.message
    small = b"just a few bytes\x00\xff"
    assert client.files.content(
        client.files.create(file=("s.bin", small), purpose="user_data").id
    ).content == (small)
    large = os.urandom(2 * 1024 * 1024 + 123_457)  # three stored parts, the last one short
    made = client.files.create(file=("large.bin", large), purpose="user_data")
    assert made.bytes == len(large)
    downloaded = client.files.content(made.id)
    assert downloaded.response.headers["content-length"] == str(len(large))
    assert downloaded.content == large


def test_expires_after_sets_expires_at(engine: Gateway) -> None:
    client = engine.client(new_key())
    made = client.files.create(
        file=("brief.txt", b"short-lived"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert made.expires_at == made.created_at + 3600
    assert client.files.retrieve(made.id).expires_at == made.created_at + 3600
    for bad in ({"anchor": "created_at", "seconds": 10}, {"anchor": "last_active_at", "seconds": 3600}):
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.create(file=("x.txt", b"x"), purpose="assistants", expires_after=bad)  # type: ignore[arg-type]
        assert (caught.value.param or "").startswith("expires_after"), caught.value.param


def test_invalid_uploads_are_400s(engine: Gateway) -> None:
    key = new_key()
    client = engine.client(key)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("x.txt", b"x"), purpose="bogus")  # type: ignore[arg-type]
    assert caught.value.param == "purpose"
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("empty.txt", b""), purpose="assistants")
    assert caught.value.param == "file"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=engine.url, headers=headers, timeout=30) as http:
        no_file = http.post("/files", files={"purpose": (None, "assistants")})
        assert no_file.status_code == 400, no_file.text
        assert no_file.json()["error"]["param"] == "file"
        assert no_file.json()["error"]["type"] == "invalid_request_error"
        not_multipart = http.post("/files", json={"purpose": "assistants", "file": "x"})
        assert not_multipart.status_code == 400, not_multipart.text
        wrong_name = http.post("/files", files={"document": ("a.txt", b"a")}, data={"purpose": "assistants"})
        assert wrong_name.status_code == 400, wrong_name.text
        two_files = http.post(
            "/files",
            data={"purpose": "assistants"},
            files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))],
        )
        assert two_files.status_code == 400, two_files.text
    assert client.files.list().data == []  # nothing refused was kept


def test_a_multipart_body_cut_before_its_closing_boundary_is_refused(engine: Gateway) -> None:
    """A body that ends inside the file part (its closing boundary never came) holds a truncated file:
    OpenAI answers 400, and nothing may be stored."""
    key = new_key()
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n--XyZ\r\n'
        b'Content-Disposition: form-data; name="file"; filename="t.txt"\r\n\r\nno closing boundary'
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=XyZ"}
    with httpx.Client(base_url=engine.url, timeout=30) as http:
        truncated = http.post("/files", content=body, headers=headers)
    assert truncated.status_code == 400, truncated.text
    assert engine.client(key).files.list().data == []


def test_concurrent_large_uploads_each_keep_their_own_bytes(engine: Gateway) -> None:
    client = engine.client(new_key())
    payloads = [os.urandom(3 * 1024 * 1024 + i * 1000) for i in range(6)]
    with ThreadPoolExecutor(len(payloads)) as pool:
        made = list(
            pool.map(
                lambda i: client.files.create(file=(f"blob{i}.bin", payloads[i]), purpose="user_data"),
                range(len(payloads)),
            )
        )
        downloaded = list(pool.map(lambda f: client.files.content(f.id).content, made))
    assert [f.bytes for f in made] == [len(p) for p in payloads]
    assert downloaded == payloads
    assert len(client.files.list().data) == len(payloads)


# -- vector stores -------------------------------------------------------------------------------------


def test_a_batch_of_many_files_completes_while_the_store_is_searched(engine: Gateway) -> None:
    client = engine.client(new_key())
    ids = [
        client.files.create(
            file=(f"note{i}.txt", f"Note {i}: pallet {i} holds marmalade jars.".encode()),
            purpose="assistants",
        ).id
        for i in range(30)
    ]
    store = client.vector_stores.create(name="many")
    batch = client.vector_stores.file_batches.create(store.id, file_ids=ids)

    def finished() -> Any:
        client.vector_stores.search(store.id, query="marmalade")  # reads beside the ingestion's writes
        found = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
        return found if found.status != "in_progress" else None

    done = poll(finished, "the batch to finish", every=0)
    assert done.status == "completed" and done.file_counts.completed == 30, done
    assert len(client.vector_stores.search(store.id, query="marmalade", max_num_results=50).data) == 30
    assert [
        f.id
        for f in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, limit=7)
    ] == ids[::-1]


def test_store_with_file_ids_completes_with_counts_and_usage(engine: Gateway) -> None:
    client = engine.client(new_key())
    ids = [
        client.files.create(file=(name, DOCUMENTS[name].encode()), purpose="assistants").id
        for name in ("handbook.md", "refund_policy.txt")
    ]
    made = client.vector_stores.create(name="two", file_ids=ids, metadata={"owner": "qa"})
    assert made.file_counts.total == 2 and made.name == "two" and made.metadata == {"owner": "qa"}
    store = settled_store(client, made.id)
    assert store.status == "completed"
    counts = store.file_counts
    assert (counts.completed, counts.failed, counts.in_progress, counts.cancelled, counts.total) == (
        2,
        0,
        0,
        0,
        2,
    )
    assert store.usage_bytes > 0
    files = client.vector_stores.files.list(made.id)
    assert sorted(f.id for f in files.data) == sorted(ids)
    assert all(f.status == "completed" and f.usage_bytes > 0 for f in files.data)
    assert sum(f.usage_bytes for f in files.data) == store.usage_bytes
    assert all(
        f.chunking_strategy is not None and f.chunking_strategy.model_dump() == AUTO_AS_SHOWN
        for f in files.data
    )
    again = client.vector_stores.files.create_and_poll(ids[0], vector_store_id=made.id, poll_interval_ms=50)
    assert again.status == "completed"  # a file is in a store once
    assert client.vector_stores.retrieve(made.id).file_counts.total == 2
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.file_batches.create(made.id, file_ids=ids, files=[{"file_id": ids[0]}])
    assert caught.value.param is not None
    others = [client.vector_stores.create(name=f"other-{i}").id for i in range(3)]
    newest_first = [*reversed(others), made.id]
    first = client.vector_stores.list(limit=2)
    assert [s.id for s in first.data] == newest_first[:2] and first.has_more
    rest = client.vector_stores.list(limit=2, after=first.data[-1].id)
    assert [s.id for s in rest.data] == newest_first[2:] and not rest.has_more
    assert [s.id for s in client.vector_stores.list(limit=1, order="asc")] == newest_first[::-1]
    renamed = client.vector_stores.update(made.id, name="renamed", metadata={"owner": "ops"})
    assert (renamed.name, renamed.metadata) == ("renamed", {"owner": "ops"})
    gone = client.vector_stores.delete(made.id)
    assert gone.deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(made.id)
    assert client.files.retrieve(ids[0]).id == ids[0]  # a store's files outlive it


def test_upload_and_poll_single_and_batch_then_filter(engine: Gateway) -> None:
    client = engine.client(new_key())
    store = client.vector_stores.create(name="uploads")
    handbook = DOCUMENTS["handbook.md"].encode()
    one = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("handbook.md", handbook), poll_interval_ms=50
    )
    assert one.status == "completed" and one.last_error is None and one.usage_bytes > 0
    assert client.files.retrieve(one.id).bytes == len(handbook)
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id,
        files=[
            ("garden.txt", DOCUMENTS["garden.txt"].encode()),
            ("refund_policy.txt", DOCUMENTS["refund_policy.txt"].encode()),
            ("kyoto_guide.txt", DOCUMENTS["kyoto_guide.txt"].encode()),
            ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4),
        ],
        poll_interval_ms=50,
    )
    assert batch.status == "completed" and batch.object == "vector_store.files_batch"
    assert (batch.file_counts.completed, batch.file_counts.failed, batch.file_counts.total) == (3, 1, 4)
    in_batch = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert len(in_batch.data) == 4
    completed = client.vector_stores.files.list(store.id, filter="completed")
    failed = client.vector_stores.files.list(store.id, filter="failed")
    assert len(completed.data) == 4 and len(failed.data) == 1
    assert failed.data[0].last_error is not None and failed.data[0].last_error.code == "unsupported_file"
    assert client.vector_stores.files.list(store.id, filter="in_progress").data == []
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.files.list(store.id, filter="done")  # type: ignore[arg-type]
    assert caught.value.param == "filter"
    assert {f.id for f in completed.data} | {failed.data[0].id} == {
        f.id for f in client.vector_stores.files.list(store.id, limit=2)
    }
    assert settled_store(client, store.id).file_counts.total == 5


def test_attributes_updated_show_in_search_and_detached_file_leaves_search(engine: Gateway) -> None:
    client = engine.client(new_key())
    en = client.files.create(file=("handbook.md", DOCUMENTS["handbook.md"].encode()), purpose="assistants")
    zh = client.files.create(
        file=("refund.txt", DOCUMENTS["refund_policy.txt"].encode()), purpose="assistants"
    )
    store = client.vector_stores.create(file_ids=[en.id, zh.id])
    assert settled_store(client, store.id).status == "completed"
    changed = client.vector_stores.files.update(
        en.id, vector_store_id=store.id, attributes={"owner": "platform", "rev": 3, "draft": False}
    )
    assert changed.attributes == {"owner": "platform", "rev": 3, "draft": False}
    hits = client.vector_stores.search(store.id, query="canary rollback").data
    assert hits and {h.file_id for h in hits} == {en.id}
    assert hits[0].attributes == {"owner": "platform", "rev": 3, "draft": False}
    assert hits[0].filename == "handbook.md"
    assert "canary" in hits[0].content[0].text
    texts = chunk_texts(client, store.id, zh.id)
    assert texts and "退款政策" in texts[0] and "原路返回" in "".join(texts)
    assert client.vector_stores.search(store.id, query="退款").data[0].file_id == zh.id
    removed = client.vector_stores.files.delete(zh.id, vector_store_id=store.id)
    assert removed.deleted
    assert client.vector_stores.search(store.id, query="退款").data == []
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(zh.id, vector_store_id=store.id)
    assert client.files.retrieve(zh.id).id == zh.id  # detached, not deleted
    after = client.vector_stores.retrieve(store.id).file_counts
    assert (after.completed, after.total) == (1, 1)
    cleared = client.vector_stores.files.update(en.id, vector_store_id=store.id, attributes=None)
    assert cleared.attributes is None
    deleted_file = client.files.delete(en.id)  # deleting a file takes it out of its stores too
    assert deleted_file.deleted
    assert client.vector_stores.search(store.id, query="canary").data == []
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0


def test_deleting_a_store_or_a_file_mid_ingestion_leaves_no_chunks(engine: Gateway) -> None:
    client = engine.client(new_key())
    big = client.files.create(file=("ledger.txt", numbered_text(8, "deleted")), purpose="assistants")
    first = client.vector_stores.create(file_ids=[big.id])
    second = client.vector_stores.create(file_ids=[big.id])
    count = "SELECT count(*) FROM vector_store_chunks WHERE vector_store_id = ?"

    def chunks_written() -> bool:
        return bool(
            scalar(engine.database_url, count, first.id) and scalar(engine.database_url, count, second.id)
        )

    poll(chunks_written, "both ingestions under way", every=0.01)
    assert client.vector_stores.retrieve(first.id).status == "in_progress"
    assert client.vector_stores.delete(first.id).deleted
    assert client.files.delete(big.id).deleted
    assert client.vector_stores.retrieve(second.id).file_counts.total == 0
    for _ in range(20):  # the workers stop at their next write, which finds the file gone
        assert (
            scalar(engine.database_url, count, first.id) == scalar(engine.database_url, count, second.id) == 0
        )
        time.sleep(0.05)
    assert client.vector_stores.retrieve(second.id).status == "completed"
    check_keyword_index(engine.database_url)


# -- search --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", list(QUERIES))
def test_search_finds_the_right_document_in_each_language(corpus: Corpus, language: str) -> None:
    query, home = QUERIES[language]
    page = corpus.client.vector_stores.search(corpus.store_id, query=query)
    assert page.data, f"nothing found for {query!r}"
    assert set(corpus.names(page.data)) == {home}  # the words are nowhere else
    scores = [r.score for r in page.data]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores), scores
    assert all(r.filename == home and r.attributes == ATTRIBUTES[home] for r in page.data)
    top = page.data[0].content[0]
    assert top.type == "text" and terms_of(query) & terms_of(top.text)


def test_search_with_several_queries_echoes_them(corpus: Corpus) -> None:
    queries = [QUERIES["en"][0], QUERIES["ja"][0]]
    page = corpus.client.vector_stores.search(corpus.store_id, query=queries)
    assert set(corpus.names(page.data)) == {"handbook.md", "kyoto_guide.txt"}
    raw = corpus.client.vector_stores.with_raw_response.search(corpus.store_id, query=QUERIES["zh"][0])
    body = raw.http_response.json()
    assert body["object"] == "vector_store.search_results.page" and body["search_query"] == QUERIES["zh"][0]


def test_max_num_results_and_score_threshold(corpus: Corpus) -> None:
    search = corpus.client.vector_stores.search
    everything = search(corpus.store_id, query=EVERYWHERE, max_num_results=50).data
    assert set(corpus.names(everything)) == set(DOCUMENTS)
    assert len(everything) > 4
    for n in (1, 3):
        assert [r.score for r in search(corpus.store_id, query=EVERYWHERE, max_num_results=n).data] == [
            r.score for r in everything[:n]
        ]
    scores = [r.score for r in everything]
    assert scores[0] > scores[-1], scores
    threshold = (scores[0] + scores[-1]) / 2
    kept = search(
        corpus.store_id,
        query=EVERYWHERE,
        max_num_results=50,
        ranking_options={"score_threshold": threshold},
    ).data
    assert kept and all(r.score >= threshold for r in kept)
    assert len(kept) == sum(1 for s in scores if s >= threshold) < len(everything)
    perfect = search(
        corpus.store_id, query=EVERYWHERE, max_num_results=50, ranking_options={"score_threshold": 1.0}
    ).data
    assert [r.score for r in perfect] == [s for s in scores if s >= 1.0]
    for bad in ({"score_threshold": 1.5}, {"score_threshold": -0.1}, {"ranker": "bogus"}):
        with pytest.raises(openai.BadRequestError):
            search(corpus.store_id, query=EVERYWHERE, ranking_options=bad)  # type: ignore[arg-type]
    for bad_limit in (0, 51):
        with pytest.raises(openai.BadRequestError):
            search(corpus.store_id, query=EVERYWHERE, max_num_results=bad_limit)


FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"type": "eq", "key": "lang", "value": "zh"}, {"refund_policy.txt"}),
    ({"type": "ne", "key": "lang", "value": "en"}, {"refund_policy.txt", "kyoto_guide.txt"}),
    ({"type": "gte", "key": "year", "value": 2024}, {"handbook.md", "kyoto_guide.txt"}),
    ({"type": "lt", "key": "year", "value": 2023}, {"garden.txt"}),
    ({"type": "eq", "key": "public", "value": False}, {"garden.txt"}),
    ({"type": "in", "key": "team", "value": ["support", "travel"]}, {"refund_policy.txt", "kyoto_guide.txt"}),
    (
        {
            "type": "and",
            "filters": [
                {"type": "eq", "key": "lang", "value": "en"},
                {"type": "gte", "key": "year", "value": 2020},
            ],
        },
        {"handbook.md"},
    ),
    (
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "team", "value": "facilities"},
                {
                    "type": "and",
                    "filters": [
                        {"type": "eq", "key": "public", "value": True},
                        {"type": "gt", "key": "year", "value": 2024},
                    ],
                },
            ],
        },
        {"garden.txt", "kyoto_guide.txt"},
    ),
    ({"type": "eq", "key": "missing", "value": "x"}, set()),
]


@pytest.mark.parametrize(("filters", "expected"), FILTERS, ids=[str(i) for i in range(len(FILTERS))])
def test_attribute_filters_select_the_right_files(
    corpus: Corpus, filters: dict[str, Any], expected: set[str]
) -> None:
    page = corpus.client.vector_stores.search(
        corpus.store_id,
        query=EVERYWHERE,
        filters=filters,  # type: ignore[arg-type]
        max_num_results=50,
    )
    assert set(corpus.names(page.data)) == expected


@pytest.mark.parametrize(
    ("filters", "param"),
    [
        ({"type": "eq", "key": "lang"}, "filters.value"),
        ({"type": "bogus", "key": "lang", "value": "x"}, "filters.type"),
        ({"type": "and", "filters": [{"type": "eq", "key": 3, "value": "x"}]}, "filters.filters[0].key"),
        ({"type": "eq", "key": "lang", "value": ["en"]}, "filters.value"),
        ({"type": "or", "filters": "nope"}, "filters.filters"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_param(corpus: Corpus, filters: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        corpus.client.vector_stores.search(corpus.store_id, query="canary", filters=filters)  # type: ignore[arg-type]
    assert caught.value.param == param, caught.value.body


@pytest.mark.parametrize(
    "query",
    [
        "rollback'); DROP TABLE files; --",
        '"rollback" OR "canary" NEAR(x y) AND rollback*',
        "rollback & !canary | (procedure) <-> :* \\",
        "ROLLBACK? Rollback!! rollback...",
    ],
)
def test_query_syntax_of_either_database_is_just_text(corpus: Corpus, query: str) -> None:
    asked = set(search_terms(query))  # the query's terms, English stop words left out
    holding = {name for name, text in DOCUMENTS.items() if asked & terms_of(text)}
    assert "handbook.md" in holding
    page = corpus.client.vector_stores.search(corpus.store_id, query=query, max_num_results=50)
    assert set(corpus.names(page.data)) == holding


def test_a_query_without_words_or_in_an_empty_store_finds_nothing(corpus: Corpus) -> None:
    assert corpus.client.vector_stores.search(corpus.store_id, query="?!… —").data == []
    empty = corpus.client.vector_stores.create(name="empty")
    assert corpus.client.vector_stores.search(empty.id, query="canary").data == []


def test_search_refuses_an_empty_query(corpus: Corpus) -> None:
    for query in ("", "   ", ["canary", ""]):
        with pytest.raises(openai.BadRequestError) as caught:
            corpus.client.vector_stores.search(corpus.store_id, query=query)
        assert caught.value.param == "query"


# -- real documents, failures --------------------------------------------------------------------------

PDF_PAGES = [
    "Annual report of the observatory. Chapter one describes the telescope refurbishment.",
    "Chapter two: the spectrograph measured hydrogen lines of forty galaxies this year.",
    "Chapter three: photosynthesis experiments in the greenhouse wing were postponed.",
]


def test_pdf_docx_html_are_searchable_and_broken_files_fail_with_openai_codes(engine: Gateway) -> None:
    client = engine.client(new_key())
    uploads = {
        "report.pdf": pdf_bytes(PDF_PAGES),
        "minutes.docx": docx_bytes(
            ["Minutes of the harbour committee.", "The committee approved the lighthouse budget."],
            [["Item", "Owner"], ["Dredging schedule", "Marguerite"]],
        ),
        "scan": pdf_bytes(["An unnamed scan about quasar telemetry."]),  # no extension: sniffed
        "page.html": (
            b"<html><head><title>Ferry timetable</title><style>.x{color:red}</style></head><body>"
            b"<h1>Ferry timetable</h1><p>The ferry to Skerries leaves at 07:40.</p>"
            b"<script>var hiddenword = 'zanzibarsecret';</script></body></html>"
        ),
        "broken.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ngarbage without xref",
        "setup.exe": b"MZ\x90\x00" + os.urandom(2048),
        "photo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(512),
    }
    ids = {
        name: client.files.create(file=(name, data), purpose="assistants").id
        for name, data in uploads.items()
    }
    store = client.vector_stores.create(name="documents")
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id, file_ids=list(ids.values()), poll_interval_ms=50
    )
    assert batch.status == "completed", batch  # not every file failed
    assert (batch.file_counts.completed, batch.file_counts.failed) == (4, 3), batch.file_counts
    settled = settled_store(client, store.id)
    assert settled.status == "completed" and settled.file_counts.in_progress == 0
    status = {name: client.vector_stores.files.retrieve(ids[name], vector_store_id=store.id) for name in ids}
    assert status["report.pdf"].status == status["minutes.docx"].status == "completed"
    for name, code in (
        ("broken.pdf", "invalid_file"),
        ("setup.exe", "unsupported_file"),
        ("photo.png", "unsupported_file"),
    ):
        error = status[name].last_error
        assert status[name].status == "failed" and error is not None, status[name]
        assert error.code == code and error.message, (name, error)
        assert status[name].usage_bytes == 0 and chunk_texts(client, store.id, ids[name]) == []
    pdf_text = "\n".join(chunk_texts(client, store.id, ids["report.pdf"]))
    for page in PDF_PAGES:
        assert " ".join(page.split()) in " ".join(pdf_text.split())
    docx_text = "\n".join(chunk_texts(client, store.id, ids["minutes.docx"]))
    assert "lighthouse budget" in docx_text and "Dredging schedule" in docx_text and "Marguerite" in docx_text
    search = client.vector_stores.search
    assert {r.file_id for r in search(store.id, query="photosynthesis greenhouse").data} == {
        ids["report.pdf"]
    }
    assert {r.file_id for r in search(store.id, query="lighthouse Marguerite").data} == {ids["minutes.docx"]}
    assert {r.file_id for r in search(store.id, query="quasar telemetry").data} == {ids["scan"]}
    assert {r.file_id for r in search(store.id, query="Skerries ferry").data} == {ids["page.html"]}
    assert search(store.id, query="zanzibarsecret").data == []  # a script's text is not shown text
    html_text = " ".join(chunk_texts(client, store.id, ids["page.html"]))
    assert "<p>" not in html_text and "color:red" not in html_text and "07:40" in html_text
    failed = client.vector_stores.files.list(store.id, filter="failed")
    assert {f.id for f in failed.data} == {ids["broken.pdf"], ids["setup.exe"], ids["photo.png"]}


def test_every_file_failing_fails_the_batch_not_the_store(engine: Gateway) -> None:
    client = engine.client(new_key())
    bad = [
        client.files.create(file=(f"x{i}.exe", b"MZ" + os.urandom(64)), purpose="assistants").id
        for i in range(2)
    ]
    store = client.vector_stores.create()
    batch = client.vector_stores.file_batches.create_and_poll(store.id, file_ids=bad, poll_interval_ms=50)
    assert batch.status == "failed" and batch.file_counts.failed == 2, batch
    assert settled_store(client, store.id).status == "completed"


# -- chunking ------------------------------------------------------------------------------------------


def test_static_chunking_makes_more_chunks_than_auto(engine: Gateway) -> None:
    client = engine.client(new_key())
    text = " ".join(
        f"Sentence {i} explains how the turbine blade number {i} is inspected." for i in range(120)
    )
    made = client.files.create(file=("turbines.txt", text.encode()), purpose="assistants")
    auto_store = client.vector_stores.create(file_ids=[made.id])
    small_store = client.vector_stores.create(file_ids=[made.id], chunking_strategy=SMALL_CHUNKS)
    auto = settled_file(client, auto_store.id, made.id)
    small = settled_file(client, small_store.id, made.id)
    assert auto.chunking_strategy.model_dump() == AUTO_AS_SHOWN
    assert small.chunking_strategy.model_dump() == SMALL_CHUNKS
    auto_chunks = chunk_texts(client, auto_store.id, made.id)
    small_chunks = chunk_texts(client, small_store.id, made.id)
    assert 1 < len(auto_chunks) < len(small_chunks), (len(auto_chunks), len(small_chunks))
    assert all(len(c) < len(auto_chunks[0]) for c in small_chunks)
    assert small_chunks[0].startswith("Sentence 0 ") and small_chunks[-1].endswith("is inspected.")
    # Consecutive chunks overlap: the second starts inside the first.
    assert small_chunks[1][:40] in small_chunks[0]
    explicit_auto = client.vector_stores.files.create_and_poll(
        made.id, vector_store_id=client.vector_stores.create().id, chunking_strategy={"type": "auto"}
    )
    assert explicit_auto.status == "completed"
    assert explicit_auto.chunking_strategy is not None
    assert explicit_auto.chunking_strategy.model_dump() == AUTO_AS_SHOWN
    # One file in two stores: detached from one, it is still found in the other.
    client.vector_stores.files.delete(made.id, vector_store_id=auto_store.id)
    assert client.vector_stores.search(auto_store.id, query="turbine").data == []
    assert len(client.vector_stores.search(small_store.id, query="turbine blade 77").data) == 10


@pytest.mark.parametrize(("size", "overlap"), [(99, 0), (4097, 0), (100, 51), (800, -1)])
def test_out_of_bounds_static_chunking_is_a_400(engine: Gateway, size: int, overlap: int) -> None:
    client = engine.client(new_key())
    made = client.files.create(file=("a.txt", b"some text"), purpose="assistants")
    strategy = {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.create(file_ids=[made.id], chunking_strategy=strategy)  # type: ignore[arg-type]
    assert (caught.value.param or "").startswith("chunking_strategy"), caught.value.body
    store = client.vector_stores.create()
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.create(store.id, file_id=made.id, chunking_strategy=strategy)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.file_batches.create(store.id, file_ids=[made.id], chunking_strategy=strategy)  # type: ignore[arg-type]
    assert [s.id for s in client.vector_stores.list()] == [store.id]  # the refused create made nothing
    assert client.vector_stores.files.list(store.id).data == []


# -- cancel --------------------------------------------------------------------------------------------


def test_cancelling_a_batch_cancels_its_unfinished_files(engine: Gateway) -> None:
    client = engine.client(new_key())
    big = client.files.create(file=("ledger.txt", numbered_text(20, "cancelled")), purpose="assistants")
    small = client.files.create(file=("small.txt", b"a small file"), purpose="assistants")
    store = client.vector_stores.create(name="cancel")
    batch = client.vector_stores.file_batches.create(store.id, file_ids=[big.id, small.id])
    assert batch.status == "in_progress"
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled", cancelled
    assert cancelled.file_counts.in_progress == 0 and cancelled.file_counts.cancelled >= 1, cancelled
    listed = {
        f.id: f for f in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    }
    assert listed[big.id].status == "cancelled"
    assert listed[small.id].status in ("completed", "cancelled")
    again = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert again.status == "cancelled" and again.file_counts == cancelled.file_counts
    assert client.vector_stores.retrieve(store.id).status == "completed"
    filtered = client.vector_stores.file_batches.list_files(
        batch.id, vector_store_id=store.id, filter="cancelled"
    )
    assert big.id in {f.id for f in filtered.data}
    # The worker that had the big file stops at its next write: no chunk of it appears later.
    probe = client.vector_stores.files.retrieve
    assert poll(lambda: probe(big.id, vector_store_id=store.id).status == "cancelled", "big file cancelled")
    for _ in range(10):
        assert chunk_texts(client, store.id, big.id) == []
        assert probe(big.id, vector_store_id=store.id).status == "cancelled"
    assert (
        client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id).status == "cancelled"
    )


# -- tenancy -------------------------------------------------------------------------------------------


def test_another_key_sees_nothing_and_cannot_use_anothers_file(engine: Gateway) -> None:
    owner, other = engine.client(new_key()), engine.client(new_key())
    made = owner.files.create(file=("mine.txt", b"canary rollback notes"), purpose="user_data")
    store = owner.vector_stores.create(file_ids=[made.id])
    settled_store(owner, store.id)
    batch = owner.vector_stores.file_batches.create(store.id, file_ids=[made.id])
    not_found: list[Callable[[], object]] = [
        lambda: other.files.retrieve(made.id),
        lambda: other.files.content(made.id),
        lambda: other.files.delete(made.id),
        lambda: other.vector_stores.retrieve(store.id),
        lambda: other.vector_stores.update(store.id, name="taken"),
        lambda: other.vector_stores.delete(store.id),
        lambda: other.vector_stores.search(store.id, query="canary"),
        lambda: other.vector_stores.files.list(store.id),
        lambda: other.vector_stores.files.retrieve(made.id, vector_store_id=store.id),
        lambda: other.vector_stores.files.content(made.id, vector_store_id=store.id),
        lambda: other.vector_stores.files.delete(made.id, vector_store_id=store.id),
        lambda: other.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id),
        lambda: other.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id),
        lambda: other.vector_stores.create(file_ids=[made.id]),  # another tenant's file
    ]
    for i, call in enumerate(not_found):
        with pytest.raises(openai.NotFoundError):
            call()
            pytest.fail(f"call {i} succeeded")
    own_store = other.vector_stores.create(name="other's")
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.files.create(own_store.id, file_id=made.id)
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.file_batches.create(own_store.id, file_ids=[made.id])
    assert other.files.list().data == []
    assert [s.id for s in other.vector_stores.list()] == [own_store.id]
    assert other.vector_stores.files.list(own_store.id).data == []
    assert [s.id for s in other.vector_stores.list()] == [own_store.id]  # the refused create made nothing
    assert owner.files.retrieve(made.id).id == made.id  # the owner's objects are untouched
    assert owner.vector_stores.retrieve(store.id).id == store.id
    assert owner.vector_stores.search(store.id, query="canary").data[0].file_id == made.id


# -- expiry --------------------------------------------------------------------------------------------


def test_an_expired_store_is_marked_expired_and_cannot_be_searched(engine: Gateway) -> None:
    client = engine.client(new_key())
    made = client.files.create(file=("a.txt", b"canary rollback"), purpose="assistants")
    store = client.vector_stores.create(
        file_ids=[made.id], expires_after={"anchor": "last_active_at", "days": 1}
    )
    assert store.expires_after is not None and store.expires_after.days == 1
    assert store.last_active_at is not None
    assert store.expires_at == store.last_active_at + 86_400
    settled_store(client, store.id)
    assert client.vector_stores.search(store.id, query="canary").data  # searchable before
    assert (
        execute(engine.database_url, "UPDATE vector_stores SET expires_at = ? WHERE id = ?", 1, store.id) == 1
    )
    expired = poll(
        lambda: (s := client.vector_stores.retrieve(store.id)).status == "expired" and s,
        "the sweep to expire",
    )
    assert isinstance(expired, VectorStore)
    assert expired.file_counts.completed == 1
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.search(store.id, query="canary")
    assert "expired" in caught.value.message
    other = client.files.create(file=("b.txt", b"more"), purpose="assistants")
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.create(store.id, file_id=other.id)
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.file_batches.create(store.id, file_ids=[other.id])
    assert client.vector_stores.retrieve(store.id).status == "expired"  # still listed, as OpenAI's were
    assert client.vector_stores.delete(store.id).deleted


def test_an_expired_file_is_deleted_by_the_sweep(engine: Gateway) -> None:
    client = engine.client(new_key())
    made = client.files.create(
        file=("brief.txt", b"canary"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    kept = client.files.create(file=("kept.txt", b"canary kept"), purpose="assistants")
    store = client.vector_stores.create(file_ids=[made.id, kept.id])
    settled_store(client, store.id)
    assert execute(engine.database_url, "UPDATE files SET expires_at = ? WHERE id = ?", 1, made.id) == 1

    def gone() -> bool:
        try:
            client.files.retrieve(made.id)
        except openai.NotFoundError:
            return True
        return False

    poll(gone, "the sweep to delete the expired file")
    assert [f.id for f in client.files.list()] == [kept.id]
    assert [f.id for f in client.vector_stores.files.list(store.id)] == [kept.id]
    assert {r.file_id for r in client.vector_stores.search(store.id, query="canary").data} == {kept.id}


# -- hybrid search (embeddings) ------------------------------------------------------------------------


@pytest.mark.parametrize("language", list(QUERIES))
def test_hybrid_search_ranks_the_right_document_first(hybrid_corpus: Corpus, language: str) -> None:
    query, home = QUERIES[language]
    page = hybrid_corpus.client.vector_stores.search(hybrid_corpus.store_id, query=query, max_num_results=50)
    names = hybrid_corpus.names(page.data)
    assert names[0] == home, names
    scores = [r.score for r in page.data]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores), scores
    # The embeddings rank every chunk, so chunks without the query's words come too, below.
    assert len(set(names)) > 1
    assert scores[0] > max(s for s, n in zip(scores, names, strict=True) if n != home)


def test_hybrid_search_filters_threshold_and_detach(hybrid_corpus: Corpus, hybrid: Gateway) -> None:
    client, store_id = hybrid_corpus.client, hybrid_corpus.store_id
    only_zh = client.vector_stores.search(
        store_id,
        query=QUERIES["en"][0],
        filters={"type": "eq", "key": "lang", "value": "zh"},
        max_num_results=50,
    )
    assert set(hybrid_corpus.names(only_zh.data)) == {"refund_policy.txt"}
    everything = client.vector_stores.search(store_id, query=EVERYWHERE, max_num_results=50).data
    threshold = (everything[0].score + everything[-1].score) / 2
    kept = client.vector_stores.search(
        store_id, query=EVERYWHERE, max_num_results=50, ranking_options={"score_threshold": threshold}
    ).data
    assert kept and all(r.score >= threshold for r in kept) and len(kept) < len(everything)
    # A store of its own, so that detaching does not change the shared corpus.
    own = hybrid.client(new_key())
    ids = [
        own.files.create(file=(name, DOCUMENTS[name].encode()), purpose="assistants").id
        for name in ("kyoto_guide.txt", "handbook.md")
    ]
    store = own.vector_stores.create(file_ids=ids)
    settled_store(own, store.id)
    before = own.vector_stores.search(store.id, query=QUERIES["ja"][0]).data
    assert before[0].file_id == ids[0] and {r.file_id for r in before} == set(ids)
    own.vector_stores.files.delete(ids[0], vector_store_id=store.id)
    after = own.vector_stores.search(store.id, query=QUERIES["ja"][0]).data
    assert after and {r.file_id for r in after} == {ids[1]}


# -- the bridge ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    for url in serve("assistants", EmulatorConfig(), tmp_path_factory.mktemp("bridge")):
        with openai.OpenAI(base_url=url, api_key="sk-bridge", max_retries=0) as client:
            yield client


@pytest.mark.parametrize(
    "operation",
    [
        lambda c: c.files.create(file=("a.txt", b"hello"), purpose="assistants"),
        lambda c: c.files.list(),
        lambda c: c.vector_stores.create(name="x"),
        lambda c: c.vector_stores.search("vs_x", query="hello"),
        lambda c: c.vector_stores.files.list("vs_x"),
        lambda c: c.vector_stores.file_batches.cancel("vsfb_x", vector_store_id="vs_x"),
    ],
    ids=[
        "files.create",
        "files.list",
        "vector_stores.create",
        "search",
        "files.list_in_store",
        "batch.cancel",
    ],
)
def test_the_bridge_refuses_files_and_vector_stores(bridge: openai.OpenAI, operation: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        operation(bridge)
    assert caught.value.status_code == 400 and caught.value.code == "unsupported_operation"
