"""Ingestion under a lease, across processes: a `python -m gateway` process SIGKILLed while it ingests a
large file leaves it to the next process once the lease lapses, which ingests it again from the start, so
the chunks are exactly those of a clean ingestion: none lost, none twice. And within one process, a lease
that lapses while a batch is slow must not set a second ingestion of the same file going."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.emulator import embeddings
from gateway.engine.ingest.chunking import chunks
from gateway.loopback import ServerThread
from tests.e2e.files_helpers import (
    chunk_texts,
    engine_gateway,
    numbered_text,
    pg_database,
    poll,
    settled_file,
    settled_store,
)
from tests.engine.helpers_lifecycle import emulator, gateway_process
from tests.postgres import PgServer

KEY = "sk-ingest-failover"
# Large chunks without overlap: the text is the chunks joined, so what was lost or doubled shows.
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 2048, "chunk_overlap_tokens": 0}}
KILL_AFTER_CHUNKS = 128  # two of the worker's batches written: a partial ingestion to clean up


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=120)


def squeezed(text: str) -> str:
    """The text without its whitespace (chunks are joined here without what lay between them)."""
    return "".join(text.split())


def test_a_file_whose_process_was_killed_mid_ingestion_is_ingested_whole_by_the_next(
    pg_server: PgServer, tmp_path: Path
) -> None:
    database_url = pg_database(pg_server)
    env = {
        "DATABASE_URL": database_url,
        "MIGRATE_ON_START": "false",
        "LEASE_SECONDS": "1",
        "SWEEP_INTERVAL": "0.2",
        # One file at a time per process: a second slot could re-take this process's own lapsed lease
        # (see the next test), which is not what this test is about.
        "INGEST_WORKERS": "1",
    }
    source = numbered_text(20, "failover")
    unused = tmp_path / "unused.db"
    with emulator() as emu:
        with gateway_process(tmp_path, "first", emu.url, unused, **env) as first, sdk(first.url) as client:
            made = client.files.create(file=("ledger.txt", source), purpose="assistants")
            killed = client.vector_stores.create(name="killed", file_ids=[made.id], chunking_strategy=STATIC)  # type: ignore[arg-type]

            def partly_ingested() -> bool:
                status = client.vector_stores.files.retrieve(made.id, vector_store_id=killed.id).status
                assert status == "in_progress", (
                    f"the ingestion ended ({status}) before the kill: use a larger file"
                )
                return len(chunk_texts(client, killed.id, made.id)) >= KILL_AFTER_CHUNKS

            poll(partly_ingested, "some chunks written", every=0.02)
            first.kill()
        killed_at = time.monotonic()
        with gateway_process(tmp_path, "second", emu.url, unused, **env) as second, sdk(second.url) as client:
            taken_over = settled_file(client, killed.id, made.id)
            print(f"SIGKILL -> completed by the second process in {time.monotonic() - killed_at:.1f} s")
            assert taken_over.status == "completed" and taken_over.last_error is None, taken_over
            store = settled_store(client, killed.id)
            assert store.status == "completed" and store.file_counts.completed == 1, store
            clean = client.vector_stores.create(name="clean", file_ids=[made.id], chunking_strategy=STATIC)  # type: ignore[arg-type]
            clean_file = settled_file(client, clean.id, made.id)
            assert clean_file.status == "completed"
            after_kill = chunk_texts(client, killed.id, made.id)
            reference = chunk_texts(client, clean.id, made.id)
            assert len(after_kill) == len(reference) > KILL_AFTER_CHUNKS
            assert after_kill == reference
            assert taken_over.usage_bytes == clean_file.usage_bytes == store.usage_bytes
            assert len(set(after_kill)) == len(after_kill)  # every paragraph is distinct: no chunk twice
            assert squeezed("".join(after_kill)) == squeezed(source.decode())  # nothing lost, nothing doubled
            middle = re.search(r"Paragraph (\d{7})", after_kill[len(after_kill) // 2])
            assert middle is not None
            hits = client.vector_stores.search(killed.id, query=middle.group(1), max_num_results=50).data
            assert len(hits) == 1 and middle.group(0) in hits[0].content[0].text
        assert "Traceback" not in second.log.read_text()


# -- one process, a slow batch ---------------------------------------------------------------------

EMBED_SECONDS = 2.5  # longer than a 1 s lease can last on the store's whole-second clock


@contextmanager
def slow_embeddings() -> Iterator[str]:
    """The emulator's `/v1/embeddings`, answering after EMBED_SECONDS."""

    async def create(request: Request) -> Response:
        await asyncio.sleep(EMBED_SECONDS)
        return await embeddings.create(request)

    with ServerThread(Starlette(routes=[Route("/v1/embeddings", create, methods=["POST"])])) as server:
        yield server.url + "/v1"


def test_a_lease_lapsing_under_a_slow_batch_does_not_start_a_second_ingestion(tmp_path: Path) -> None:
    """A batch (here its embeddings) taking longer than the lease: the worker keeps renewing the lease
    meanwhile, so the file is not taken again, and its chunks are written once each, none lost. (That a
    lapsed lease taken again refuses the first attempt's writes is tested on the store itself.)"""
    text = " ".join(f"Item {i} of the slow inventory lists crate {i} on shelf {i % 13}." for i in range(700))
    expected = [c.text for c in chunks([text], 100, 0)]
    assert 64 < len(expected) <= 128  # two of the worker's batches
    with (
        slow_embeddings() as embeddings_url,
        engine_gateway(
            tmp_path, lease_seconds=1, ingest_workers=2, embeddings_url=embeddings_url, embeddings_api_key="k"
        ) as gateway,
    ):
        client = gateway.client(KEY)
        made = client.files.create(file=("inventory.txt", text.encode()), purpose="assistants")
        strategy = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
        store = client.vector_stores.create(file_ids=[made.id], chunking_strategy=strategy)  # type: ignore[arg-type]
        ingested = settled_file(client, store.id, made.id)
        assert ingested.status == "completed", ingested
        got = chunk_texts(client, store.id, made.id)
        assert len(got) == len(expected), f"{len(got)} chunks stored, {len(expected)} made"
        assert got == expected


# -- across processes: a file queued where no slot is free -----------------------------------------


SMALL = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}


def test_a_file_queued_on_a_busy_process_is_taken_at_once_by_an_idle_one(
    pg_server: PgServer, tmp_path: Path
) -> None:
    """The first process's only ingestion slot holds a file of six batches, each waiting EMBED_SECONDS for
    its embeddings. A second process starts (its worker looks once, finds nothing free, and with a 300 s
    lease would not look again for 100 s), then a second file is queued on the first: only the notice
    (`Signals`, NOTIFY) can get it ingested before the first file is, and by the second process."""
    database_url = pg_database(pg_server)
    env = {
        "DATABASE_URL": database_url,
        "MIGRATE_ON_START": "false",
        "LEASE_SECONDS": "300",
        "INGEST_WORKERS": "1",
    }
    slow_text = " ".join(f"Crate {i} of the slow ledger sits on shelf {i % 7}." for i in range(3000))
    unused = tmp_path / "unused.db"
    with (
        emulator() as emu,
        slow_embeddings() as slow_url,
        gateway_process(
            tmp_path, "busy", emu.url, unused, EMBEDDINGS_URL=slow_url, EMBEDDINGS_API_KEY="k", **env
        ) as busy,
        sdk(busy.url) as client,
    ):
        slow = client.files.create(file=("slow.txt", slow_text.encode()), purpose="assistants")
        slow_store = client.vector_stores.create(name="slow", file_ids=[slow.id], chunking_strategy=SMALL)  # type: ignore[arg-type]
        poll(lambda: chunk_texts(client, slow_store.id, slow.id), "the slow file's first batch", every=0.1)
        with gateway_process(tmp_path, "idle", emu.url, unused, **env):
            quick = client.files.create(
                file=("quick.txt", b"The quick file names the brass key."), purpose="assistants"
            )
            quick_store = client.vector_stores.create(name="quick", file_ids=[quick.id])
            done = settled_file(client, quick_store.id, quick.id)
            assert done.status == "completed", done
            still = client.vector_stores.files.retrieve(slow.id, vector_store_id=slow_store.id)
            assert still.status == "in_progress", (
                f"the slow file ended first ({still.status}): use a larger one"
            )
            hits = client.vector_stores.search(quick_store.id, query="brass key").data
            assert [h.file_id for h in hits] == [quick.id]
        assert settled_file(client, slow_store.id, slow.id).status == "completed"
