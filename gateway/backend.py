"""The seam between the OpenAI-facing edge and a backend: OpenAI request models in, OpenAI objects
(or a run's stream of OpenAI events) out.

The routes call nothing else, as httpx's client calls nothing but `AsyncBaseTransport`. Two
implementations: `gateway.bridge` (MiniMax's Assistants API) and `gateway.engine` (the gateway's own
store, runs over MiniMax chat completions). A backend raises only `GatewayError`s: it maps every
foreign error once, at its own boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


class Backend(Protocol):
    """Every Assistants v2 operation the SDKs call. Ids come from the URL; bodies are validated."""

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

    async def create_run(self, caller: Caller, thread_id: str, body: RunIn) -> RunResult: ...
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
