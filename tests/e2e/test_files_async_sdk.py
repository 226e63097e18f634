"""The core files and vector stores path with the Python SDK's `AsyncOpenAI`, on SQLite and PostgreSQL:
concurrent uploads, a store polled to completion, search in English, Chinese and Japanese, the
upload-and-poll helpers, auto-pagination and the async error classes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.files_helpers import (
    DOCUMENTS,
    QUERIES,
    Gateway,
    engine_gateway,
    pg_database,
    settled_store_async,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    database_url = (
        pg_database(request.getfixturevalue("pg_server")) if request.param == "postgresql" else None
    )
    directory = tmp_path_factory.mktemp(f"files-async-{request.param}")
    with engine_gateway(directory, database_url=database_url) as gateway:
        yield gateway


@pytest.mark.asyncio
async def test_async_upload_store_search_and_batches(engine: Gateway) -> None:
    async with engine.async_client(f"sk-async-{uuid.uuid4().hex[:8]}") as client:
        made = await asyncio.gather(
            *(
                client.files.create(file=(name, text.encode()), purpose="assistants")
                for name, text in DOCUMENTS.items()
            )
        )
        assert [f.filename for f in made] == list(DOCUMENTS)
        ids = {f.filename: f.id for f in made}
        created = await client.vector_stores.create(name="async", file_ids=list(ids.values()))
        store = await settled_store_async(client, created.id)
        assert store.status == "completed" and store.usage_bytes > 0
        assert (store.file_counts.completed, store.file_counts.total) == (4, 4)

        pages = await asyncio.gather(
            *(client.vector_stores.search(store.id, query=query) for query, _ in QUERIES.values())
        )
        for (query, home), page in zip(QUERIES.values(), pages, strict=True):
            assert page.data and {r.file_id for r in page.data} == {ids[home]}, query

        single = await client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id,
            file=("lanterns.txt", b"Paper lanterns float on the river."),
            poll_interval_ms=50,
        )
        assert single.status == "completed"
        batch = await client.vector_stores.file_batches.upload_and_poll(
            store.id,
            files=[("a.txt", b"Zeppelins over the bay."), ("b.txt", b"Submarines under the bay.")],
            poll_interval_ms=50,
        )
        assert batch.status == "completed" and batch.file_counts.completed == 2
        listed = [f.id async for f in client.vector_stores.files.list(store.id, limit=2)]
        assert len(listed) == len(set(listed)) == 7
        hits = await client.vector_stores.search(store.id, query="zeppelins bay", max_num_results=1)
        assert len(hits.data) == 1 and "Zeppelins" in hits.data[0].content[0].text
        assert [f.id async for f in client.files.list(limit=3)] == [
            f.id async for f in client.files.list(order="desc")
        ]

        with pytest.raises(openai.BadRequestError):
            await client.files.content(ids["handbook.md"])
        assert (await client.files.delete(ids["garden.txt"])).deleted
        with pytest.raises(openai.NotFoundError):
            await client.files.retrieve(ids["garden.txt"])
        after = await client.vector_stores.retrieve(store.id)
        assert after.file_counts.total == 6  # the deleted file left the store
