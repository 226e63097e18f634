"""The seam between the OpenAI-facing edge and a backend: OpenAI request models in, OpenAI objects
(or a run's stream of OpenAI events) out.

The routes call nothing else, as httpx's client calls nothing but `AsyncBaseTransport`. Two
implementations: `gateway.bridge` (MiniMax's Assistants API) and `gateway.engine` (the gateway's own
store, runs over MiniMax chat completions). A backend raises only `GatewayError`s: it maps every
foreign error once, at its own boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.schemas.documents import (
    AttributesIn,
    FileBatchIn,
    SearchIn,
    StoreFileIn,
    VectorStoreIn,
    VectorStorePatch,
)
from gateway.schemas.openai import (
    AssistantIn,
    AssistantPatch,
    MessageIn,
    MetadataIn,
    RunIn,
    SubmitToolOutputsIn,
    ThreadAndRunIn,
    ThreadIn,
)
from gateway.stream.relay import EventSource

Obj = dict[str, Any]
"""An OpenAI object (assistant, thread, message, run, run step, deleted marker, list page)."""

RunResult = Obj | EventSource
"""A run call's answer: the run object, or (asked with `stream: true`) its events."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls, as the edge authenticated them. `tenant` owns the objects the caller makes (a
    hash, never a key); `api_key` and `account` are what the backend calls upstream with."""

    tenant: str
    api_key: str = field(repr=False)
    account: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """A list request's cursor parameters, validated: `limit` 1-100, `order`, `after`, `before`."""

    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(slots=True)
class FileUpload:
    """A file arriving in a multipart form, read as it arrives. `fields` holds the form's other fields:
    those sent before the file at first, all of them once `content` is exhausted."""

    filename: str
    fields: dict[str, str]
    content: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True)
class FileDownload:
    """A file's bytes for a response, read part by part from wherever they are kept."""

    filename: str
    size: int
    content: AsyncIterator[bytes]


class Documents(Protocol):
    """Files and vector stores (OpenAI's Files and Vector Stores APIs)."""

    async def create_file(self, caller: Caller, upload: FileUpload) -> Obj: ...
    async def list_files(self, caller: Caller, page: Page, purpose: str | None) -> Obj: ...
    async def retrieve_file(self, caller: Caller, file_id: str) -> Obj: ...
    async def delete_file(self, caller: Caller, file_id: str) -> Obj: ...
    async def file_content(self, caller: Caller, file_id: str) -> FileDownload: ...

    async def create_vector_store(self, caller: Caller, body: VectorStoreIn) -> Obj: ...
    async def list_vector_stores(self, caller: Caller, page: Page) -> Obj: ...
    async def retrieve_vector_store(self, caller: Caller, store_id: str) -> Obj: ...
    async def modify_vector_store(self, caller: Caller, store_id: str, body: VectorStorePatch) -> Obj: ...
    async def delete_vector_store(self, caller: Caller, store_id: str) -> Obj: ...
    async def search_vector_store(self, caller: Caller, store_id: str, body: SearchIn) -> Obj: ...

    async def create_store_file(self, caller: Caller, store_id: str, body: StoreFileIn) -> Obj: ...
    async def list_store_files(
        self, caller: Caller, store_id: str, page: Page, status: str | None
    ) -> Obj: ...
    async def retrieve_store_file(self, caller: Caller, store_id: str, file_id: str) -> Obj: ...
    async def update_store_file(
        self, caller: Caller, store_id: str, file_id: str, body: AttributesIn
    ) -> Obj: ...
    async def delete_store_file(self, caller: Caller, store_id: str, file_id: str) -> Obj: ...
    async def store_file_content(self, caller: Caller, store_id: str, file_id: str) -> Obj: ...

    async def create_file_batch(self, caller: Caller, store_id: str, body: FileBatchIn) -> Obj: ...
    async def retrieve_file_batch(self, caller: Caller, store_id: str, batch_id: str) -> Obj: ...
    async def cancel_file_batch(self, caller: Caller, store_id: str, batch_id: str) -> Obj: ...
    async def list_batch_files(
        self, caller: Caller, store_id: str, batch_id: str, page: Page, status: str | None
    ) -> Obj: ...


class Backend(Protocol):
    """Every Assistants v2 operation the SDKs call. Ids come from the URL; bodies are validated.
    `documents` serves files and vector stores."""

    documents: Documents

    async def create_assistant(self, caller: Caller, body: AssistantIn) -> Obj: ...
    async def retrieve_assistant(self, caller: Caller, assistant_id: str) -> Obj: ...
    async def list_assistants(self, caller: Caller, page: Page) -> Obj: ...
    async def modify_assistant(self, caller: Caller, assistant_id: str, body: AssistantPatch) -> Obj: ...
    async def delete_assistant(self, caller: Caller, assistant_id: str) -> Obj: ...

    async def create_thread(self, caller: Caller, body: ThreadIn) -> Obj: ...
    async def retrieve_thread(self, caller: Caller, thread_id: str) -> Obj: ...
    async def modify_thread(self, caller: Caller, thread_id: str, body: MetadataIn) -> Obj: ...
    async def delete_thread(self, caller: Caller, thread_id: str) -> Obj: ...

    async def create_message(self, caller: Caller, thread_id: str, body: MessageIn) -> Obj: ...
    async def list_messages(self, caller: Caller, thread_id: str, page: Page, run_id: str | None) -> Obj: ...
    async def retrieve_message(self, caller: Caller, thread_id: str, message_id: str) -> Obj: ...
    async def modify_message(
        self, caller: Caller, thread_id: str, message_id: str, body: MetadataIn
    ) -> Obj: ...
    async def delete_message(self, caller: Caller, thread_id: str, message_id: str) -> Obj: ...

    async def create_run(
        self, caller: Caller, thread_id: str, body: RunIn, include: Sequence[str] = ()
    ) -> RunResult: ...
    async def create_thread_and_run(self, caller: Caller, body: ThreadAndRunIn) -> RunResult: ...
    async def list_runs(self, caller: Caller, thread_id: str, page: Page) -> Obj: ...
    async def retrieve_run(self, caller: Caller, thread_id: str, run_id: str) -> Obj: ...
    async def modify_run(self, caller: Caller, thread_id: str, run_id: str, body: MetadataIn) -> Obj: ...
    async def cancel_run(self, caller: Caller, thread_id: str, run_id: str) -> Obj: ...
    async def submit_tool_outputs(
        self, caller: Caller, thread_id: str, run_id: str, body: SubmitToolOutputsIn
    ) -> RunResult: ...

    async def list_steps(
        self, caller: Caller, thread_id: str, run_id: str, page: Page, include: list[str]
    ) -> Obj: ...
    async def retrieve_step(
        self, caller: Caller, thread_id: str, run_id: str, step_id: str, include: list[str]
    ) -> Obj: ...

    async def ready(self) -> bool:
        """Whether the backend can serve now (readiness: its upstream answers, its store is up)."""
        ...
