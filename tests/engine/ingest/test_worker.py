"""The ingestion worker's rounds on SQLite, where it does not poll: a file given back after a passing
failure is taken again when its retry is due, woken by nothing but that time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.emulator import embeddings
from gateway.loopback import ServerThread
from tests.e2e.files_helpers import engine_gateway, settled_file

KEY = "sk-ingest-retry"
FAILURES = 4  # the embeddings client's own attempts for one batch (1 + 3 retries): the batch fails


class Flaky:
    """The emulator's `/v1/embeddings`, but answering 503 to its first FAILURES requests; it counts
    what it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    async def create(self, request: Request) -> Response:
        with self._lock:
            self.calls += 1
            failing = self.calls <= FAILURES
        if failing:
            return embeddings.error_response(503, "overloaded", kind="server_error")
        return await embeddings.create(request)


@contextmanager
def flaky_embeddings() -> Iterator[tuple[str, Flaky]]:
    flaky = Flaky()
    app = Starlette(routes=[Route("/v1/embeddings", flaky.create, methods=["POST"])])
    with ServerThread(app) as server:
        yield server.url + "/v1", flaky


def test_a_file_given_back_is_taken_again_when_its_retry_is_due(tmp_path: Path) -> None:
    """The first attempt fails (the embeddings endpoint is down), so the file goes back with a retry
    time. With a lease of 300 s the worker's own rhythm (a third of it) would come long after the
    polling deadline: the file is ingested only if the worker sleeps until the retry it read."""
    with (
        flaky_embeddings() as (url, flaky),
        engine_gateway(tmp_path, lease_seconds=300, embeddings_url=url, embeddings_api_key="k") as gateway,
    ):
        client = gateway.client(KEY)
        text = b"The retried file says: shelves are oak."
        made = client.files.create(file=("notes.txt", text), purpose="assistants")
        store = client.vector_stores.create(file_ids=[made.id])
        ingested = settled_file(client, store.id, made.id)
        assert ingested.status == "completed", ingested
        assert flaky.calls == FAILURES + 1  # the first attempt's four, then the second attempt's one
        hits = client.vector_stores.search(store.id, query="oak shelves").data
        assert [h.file_id for h in hits] == [made.id]
