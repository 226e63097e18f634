"""Files and vector stores on the engine (`Documents`): OpenAI's rules checked, the store called, the
ingestion worker woken, searches run. Store errors leave as OpenAI's errors (`engine.errors`).

Uploads are written to the store part by part as they arrive (never whole in memory); an upload that
fails or is refused halfway leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

from gateway.backend import Caller, FileDownload, FileUpload, Obj, Page
from gateway.engine.errors import maps_store_errors
from gateway.engine.ingest.chunking import AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS, check_static
from gateway.engine.retrieval import filters
from gateway.engine.retrieval.embeddings import EmbeddingsError
from gateway.engine.retrieval.searcher import Searcher
from gateway.engine.store import Store
from gateway.engine.store.store_files import NewStoreFile
from gateway.engine.store.tables import INGEST_STATUSES, PART_BYTES
from gateway.errors import InvalidRequest, UpstreamError
from gateway.metrics import Metrics
from gateway.schemas.documents import (
    AttributesIn,
    ChunkingIn,
    FileBatchIn,
    SearchIn,
    StaticChunking,
    StoreFileIn,
    VectorStoreIn,
    VectorStorePatch,
)

PURPOSES: Final = ("assistants", "vision", "user_data")
NOT_DOWNLOADABLE: Final = ("assistants",)  # OpenAI refused to hand these back
FILE_EXPIRY_SECONDS: Final = (3600, 2_592_000)  # expires_after.seconds: 1 hour to 30 days
FILENAME_MAX: Final = 512
THREAD_STORE_EXPIRY: Final = {"anchor": "last_active_at", "days": 7}  # a thread's own store, as OpenAI's
ACTIVITY_GRAIN: Final = 60  # a search moves `last_active_at` at most once a minute (expiry counts days)


def _chunking(strategy: ChunkingIn | None, param: str) -> dict[str, Any]:
    """A request's chunking strategy as stored and shown (auto is OpenAI's static 800/400)."""
    if isinstance(strategy, StaticChunking):
        size, overlap = strategy.static.max_chunk_size_tokens, strategy.static.chunk_overlap_tokens
        reason = check_static(size, overlap)
        if reason is not None:
            raise InvalidRequest(reason, param=f"{param}.static")
    else:
        size, overlap = AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def _attributes(doc: dict[str, Any] | None, param: str) -> dict[str, Any] | None:
    try:
        return filters.check_attributes(doc, param)
    except filters.FilterError as exc:
        raise InvalidRequest(str(exc), param=exc.param) from None


def _status(status: str | None) -> str | None:
    if status is not None and status not in INGEST_STATUSES:
        raise InvalidRequest(
            f"Invalid value for 'filter': expected one of {', '.join(INGEST_STATUSES)}", param="filter"
        )
    return status


def _purpose(value: str | None) -> str:
    if value is None:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    if value not in PURPOSES:
        raise InvalidRequest(
            f"Invalid value for 'purpose': '{value[:64]}'. The engine takes {', '.join(PURPOSES)}.",
            param="purpose",
        )
    return value


def _expiry(fields: dict[str, str]) -> int | None:
    """`expires_after` of a multipart form (`expires_after[anchor]`, `expires_after[seconds]`)."""
    anchor, seconds = fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest(
            "Invalid value for 'expires_after.anchor': expected 'created_at'", param="expires_after.anchor"
        )
    low, high = FILE_EXPIRY_SECONDS
    if seconds is None or not seconds.isdigit() or not low <= int(seconds) <= high:
        raise InvalidRequest(
            f"Invalid value for 'expires_after.seconds': expected an integer from {low} to {high}",
            param="expires_after.seconds",
        )
    return int(seconds)


@maps_store_errors
class EngineDocuments:
    """`Documents` over the engine's store. `wake` tells this process's ingestion worker that files
    are waiting (other replicas find them at their next poll)."""

    def __init__(
        self,
        store: Store,
        searcher: Searcher,
        wake: Callable[[], None],
        *,
        max_file_bytes: int,
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._searcher = searcher
        self._wake = wake
        self._max_file_bytes = max_file_bytes

    # -- files -----------------------------------------------------------------------------------

    async def create_file(self, caller: Caller, upload: FileUpload) -> Obj:
        if "purpose" in upload.fields:  # sent before the file: refuse before storing a byte
            _purpose(upload.fields["purpose"])
        if not upload.filename or len(upload.filename) > FILENAME_MAX:
            raise InvalidRequest(f"The file needs a name of 1 to {FILENAME_MAX} characters", param="file")
        files = self._store.files
        file_id = await files.begin(caller.tenant, filename=upload.filename, purpose="", expires_at=None)
        try:
            size = await self._write(file_id, upload.content)
            if size == 0:
                raise InvalidRequest("The file is empty.", param="file")
            purpose = _purpose(upload.fields.get("purpose"))
            expiry = _expiry(upload.fields)
            return await files.finish(caller.tenant, file_id, size, purpose=purpose, expires_after=expiry)
        except BaseException:
            await asyncio.shield(files.discard(file_id))
            raise

    async def _write(self, file_id: str, content: AsyncIterator[bytes]) -> int:
        size, part, pending = 0, 0, bytearray()
        async for piece in content:
            size += len(piece)
            if size > self._max_file_bytes:
                raise InvalidRequest(
                    f"The file is larger than the largest allowed ({self._max_file_bytes} bytes).",
                    param="file",
                    code="file_too_large",
                )
            pending += piece
            while len(pending) >= PART_BYTES:
                await self._store.files.write_part(file_id, part, bytes(pending[:PART_BYTES]))
                del pending[:PART_BYTES]
                part += 1
        if pending:
            await self._store.files.write_part(file_id, part, bytes(pending))
        return size

    async def list_files(self, caller: Caller, page: Page, purpose: str | None) -> Obj:
        return await self._store.files.list(caller.tenant, purpose=purpose, **_page(page))

    async def retrieve_file(self, caller: Caller, file_id: str) -> Obj:
        return await self._store.files.retrieve(caller.tenant, file_id)

    async def delete_file(self, caller: Caller, file_id: str) -> Obj:
        return await self._store.files.delete(caller.tenant, file_id)

    async def file_content(self, caller: Caller, file_id: str) -> FileDownload:
        row = await self._store.files.row(caller.tenant, file_id)
        if row["purpose"] in NOT_DOWNLOADABLE:
            raise InvalidRequest(f"Not allowed to download files of purpose: {row['purpose']}")
        return FileDownload(row["filename"], row["bytes"], self._parts(file_id))

    async def _parts(self, file_id: str) -> AsyncIterator[bytes]:
        index = 0
        while (data := await self._store.files.part(file_id, index)) is not None:
            yield data
            index += 1

    # -- vector stores ---------------------------------------------------------------------------

    async def create_vector_store(self, caller: Caller, body: VectorStoreIn) -> Obj:
        chunking = _chunking(body.chunking_strategy, "chunking_strategy")
        made = await self._store.vector_stores.create(
            caller.tenant,
            name=body.name,
            description=body.description,
            metadata=body.metadata,
            expires_after=None if body.expires_after is None else body.expires_after.model_dump(),
            files=[NewStoreFile(file_id, chunking) for file_id in body.file_ids],
        )
        if body.file_ids:
            self._wake()
        return made

    async def list_vector_stores(self, caller: Caller, page: Page) -> Obj:
        return await self._store.vector_stores.list(caller.tenant, **_page(page))

    async def retrieve_vector_store(self, caller: Caller, store_id: str) -> Obj:
        return await self._store.vector_stores.retrieve(caller.tenant, store_id)

    async def modify_vector_store(self, caller: Caller, store_id: str, body: VectorStorePatch) -> Obj:
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        return await self._store.vector_stores.modify(caller.tenant, store_id, changes)

    async def delete_vector_store(self, caller: Caller, store_id: str) -> Obj:
        return await self._store.vector_stores.delete(caller.tenant, store_id)

    async def search_vector_store(self, caller: Caller, store_id: str, body: SearchIn) -> Obj:
        store = await self._store.vector_stores.retrieve(caller.tenant, store_id)
        if store["status"] == "expired":
            raise InvalidRequest(f"Vector store {store_id} is expired: it can no longer be searched.")
        queries = [body.query] if isinstance(body.query, str) else body.query
        if not queries or any(not q.strip() for q in queries):
            raise InvalidRequest("Invalid value for 'query': expected a non-empty string", param="query")
        try:
            condition = None if body.filters is None else filters.parse(body.filters)
        except filters.FilterError as exc:
            raise InvalidRequest(str(exc), param=exc.param) from None
        ranking = body.ranking_options
        try:
            with self._metrics.search_latency.time():
                results = await self._searcher.search(
                    [store_id],
                    queries,
                    limit=body.max_num_results,
                    score_threshold=0.0 if ranking is None else ranking.score_threshold,
                    condition=condition,
                )
        except EmbeddingsError as exc:
            raise UpstreamError(f"The search could not embed the query: {exc}") from None
        if self._store.db.clock() - store["last_active_at"] >= ACTIVITY_GRAIN:
            await self._store.vector_stores.touch([store_id])
        return {
            "object": "vector_store.search_results.page",
            "search_query": queries[0] if isinstance(body.query, str) else queries,
            "data": [
                {
                    "file_id": r.file_id,
                    "filename": r.filename,
                    "score": r.score,
                    "attributes": r.attributes,
                    "content": [{"type": "text", "text": r.text}],
                }
                for r in results
            ],
            "has_more": False,
            "next_page": None,
        }

    # -- the stores of assistants and threads -----------------------------------------------------

    async def resources(self, caller: Caller, resources: dict[str, Any] | None, param: str) -> Any:
        """`tool_resources` as stored: `file_search.vector_store_ids` checked (one store, the caller's),
        and `file_search.vector_stores` (OpenAI's helper: a store made of these files) made into one;
        `code_interpreter.file_ids` checked (the caller's files)."""
        for file_id in ((resources or {}).get("code_interpreter") or {}).get("file_ids") or ():
            await self._store.files.retrieve(caller.tenant, file_id)
        search = (resources or {}).get("file_search")
        if not search:
            return resources
        ids = list(search.get("vector_store_ids") or ())
        helpers = list(search.get("vector_stores") or ())
        if len(ids) + len(helpers) > 1:
            raise InvalidRequest(
                "file_search takes one vector store (vector_store_ids or vector_stores)",
                param=f"{param}.file_search",
            )
        for store_id in ids:
            await self._store.vector_stores.retrieve(caller.tenant, store_id)
        for i, helper in enumerate(helpers):
            body = VectorStoreIn.model_validate(
                {k: helper[k] for k in ("file_ids", "chunking_strategy", "metadata") if k in helper}
            )
            chunking = _chunking(
                body.chunking_strategy, f"{param}.file_search.vector_stores[{i}].chunking_strategy"
            )
            made = await self._store.vector_stores.create(
                caller.tenant,
                name=None,
                metadata=body.metadata,
                files=[NewStoreFile(file_id, chunking) for file_id in body.file_ids],
            )
            ids.append(made["id"])
            self._wake()
        return {**(resources or {}), "file_search": {"vector_store_ids": ids}}

    async def attach_to_thread(self, caller: Caller, thread_id: str, file_ids: Sequence[str]) -> Obj:
        """Files a message attaches for file_search: into the thread's vector store, made for the thread
        when it has none (expiring 7 days after its last activity, as OpenAI's); the thread as it is then."""
        thread = await self._store.threads.retrieve(caller.tenant, thread_id)
        resources = thread.get("tool_resources") or {}
        ids = list((resources.get("file_search") or {}).get("vector_store_ids") or ())
        files = [NewStoreFile(file_id, _chunking(None, "")) for file_id in dict.fromkeys(file_ids)]
        if ids:
            await self._store.file_batches.create(caller.tenant, ids[0], files)
        else:
            made = await self._store.vector_stores.create(
                caller.tenant, name=None, expires_after=THREAD_STORE_EXPIRY, files=files
            )
            resources = {**resources, "file_search": {"vector_store_ids": [made["id"]]}}
            thread = await self._store.threads.modify(caller.tenant, thread_id, {"tool_resources": resources})
        self._wake()
        return thread

    # -- files in a store, batches ---------------------------------------------------------------

    async def create_store_file(self, caller: Caller, store_id: str, body: StoreFileIn) -> Obj:
        new = NewStoreFile(
            body.file_id,
            _chunking(body.chunking_strategy, "chunking_strategy"),
            _attributes(body.attributes, "attributes"),
        )
        made = await self._store.store_files.attach(caller.tenant, store_id, new)
        self._wake()
        return made

    async def list_store_files(self, caller: Caller, store_id: str, page: Page, status: str | None) -> Obj:
        return await self._store.store_files.list(
            caller.tenant, store_id, status=_status(status), **_page(page)
        )

    async def retrieve_store_file(self, caller: Caller, store_id: str, file_id: str) -> Obj:
        return await self._store.store_files.retrieve(caller.tenant, store_id, file_id)

    async def update_store_file(self, caller: Caller, store_id: str, file_id: str, body: AttributesIn) -> Obj:
        attributes = _attributes(body.attributes, "attributes")
        return await self._store.store_files.update(caller.tenant, store_id, file_id, attributes)

    async def delete_store_file(self, caller: Caller, store_id: str, file_id: str) -> Obj:
        return await self._store.store_files.delete(caller.tenant, store_id, file_id)

    async def store_file_content(self, caller: Caller, store_id: str, file_id: str) -> Obj:
        return await self._store.store_files.content(caller.tenant, store_id, file_id)

    async def create_file_batch(self, caller: Caller, store_id: str, body: FileBatchIn) -> Obj:
        made = await self._store.file_batches.create(caller.tenant, store_id, _batch_files(body))
        self._wake()
        return made

    async def retrieve_file_batch(self, caller: Caller, store_id: str, batch_id: str) -> Obj:
        return await self._store.file_batches.retrieve(caller.tenant, store_id, batch_id)

    async def cancel_file_batch(self, caller: Caller, store_id: str, batch_id: str) -> Obj:
        return await self._store.file_batches.cancel(caller.tenant, store_id, batch_id)

    async def list_batch_files(
        self, caller: Caller, store_id: str, batch_id: str, page: Page, status: str | None
    ) -> Obj:
        await self._store.file_batches.exists(caller.tenant, store_id, batch_id)
        return await self._store.store_files.list(
            caller.tenant, store_id, status=_status(status), batch_id=batch_id, **_page(page)
        )


def _batch_files(body: FileBatchIn) -> Sequence[NewStoreFile]:
    if body.file_ids is not None and body.files is not None:
        raise InvalidRequest("'file_ids' and 'files' are mutually exclusive: send one of them", param="files")
    if body.files is not None:
        return [
            NewStoreFile(
                f.file_id,
                _chunking(f.chunking_strategy, f"files[{i}].chunking_strategy"),
                _attributes(f.attributes, f"files[{i}].attributes"),
            )
            for i, f in enumerate(body.files)
        ]
    if not body.file_ids:
        raise InvalidRequest("Missing required parameter: 'file_ids' (or 'files').", param="file_ids")
    chunking = _chunking(body.chunking_strategy, "chunking_strategy")
    attributes = _attributes(body.attributes, "attributes")
    return [NewStoreFile(file_id, chunking, attributes) for file_id in body.file_ids]


def _page(page: Page) -> dict[str, Any]:
    return {"limit": page.limit, "order": page.order, "after": page.after, "before": page.before}
