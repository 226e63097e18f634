"""`file_search` inside a streamed run with the Python SDK's `AsyncOpenAI` and `AsyncAssistantEventHandler`,
on SQLite and PostgreSQL: documents uploaded concurrently into a vector store, an assistant searching
it, the search shown as a `file_search` tool call with its results, and the answer's marker streamed
as one `file_citation` annotation pointing at the file that answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncAssistantEventHandler
from openai.types.beta.threads import Message, Text, TextDelta
from openai.types.beta.threads.runs import RunStep, ToolCall

from gateway.emulator.config import EmulatorConfig
from gateway.engine.file_search import INCLUDE_CONTENT
from tests.e2e.files_helpers import DOCUMENTS, Gateway, engine_gateway, pg_database, settled_store_async

MARKER = "【0:0†handbook.md】"
ANSWER = f"According to handbook.md: Platform Engineering Handbook {MARKER}"


def calls_of(step: RunStep) -> list[Any]:
    """The tool calls of a `tool_calls` step (typed loosely: the SDK types them as a union)."""
    details: Any = step.step_details
    assert details.type == "tool_calls", details
    return list(details.tool_calls)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    database_url = (
        pg_database(request.getfixturevalue("pg_server")) if request.param == "postgresql" else None
    )
    directory = tmp_path_factory.mktemp(f"file-search-async-{request.param}")
    with engine_gateway(directory, database_url=database_url) as gateway:
        yield gateway


class Recorder(AsyncAssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.tool_calls_created: list[ToolCall] = []
        self.steps_done: list[RunStep] = []
        self.deltas: list[TextDelta] = []
        self.snapshot: Text | None = None
        self.messages_done: list[Message] = []

    async def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.tool_calls_created.append(tool_call)

    async def on_run_step_done(self, run_step: RunStep) -> None:
        self.steps_done.append(run_step)

    async def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.deltas.append(delta)
        self.snapshot = snapshot

    async def on_message_done(self, message: Message) -> None:
        self.messages_done.append(message)


@pytest.mark.asyncio
async def test_async_streamed_run_searches_and_cites(engine: Gateway) -> None:
    async with engine.async_client(f"sk-async-fs-{uuid.uuid4().hex[:8]}") as client:
        made = await asyncio.gather(
            *(
                client.files.create(file=(name, text.encode()), purpose="assistants")
                for name, text in DOCUMENTS.items()
            )
        )
        ids = {f.filename: f.id for f in made}
        created = await client.vector_stores.create(name="async-library", file_ids=list(ids.values()))
        store = await settled_store_async(client, created.id)
        assert store.status == "completed" and store.file_counts.completed == len(DOCUMENTS)
        assistant = await client.beta.assistants.create(
            model="MiniMax-M2.7",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        thread = await client.beta.threads.create(
            messages=[{"role": "user", "content": "What is the rollback procedure after a canary release?"}]
        )
        seen = Recorder()
        async with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=seen
        ) as stream:
            await stream.until_done()
        run: Any = stream.current_run
        assert run is not None and run.status == "completed", run

        assert [c.type for c in seen.tool_calls_created] == ["file_search"]
        assert [s.type for s in seen.steps_done] == ["tool_calls", "message_creation"]
        (call,) = calls_of(seen.steps_done[0])
        assert call.type == "file_search" and call.id == seen.tool_calls_created[0].id
        results = call.file_search.results
        assert results and (results[0].file_id, results[0].file_name) == (ids["handbook.md"], "handbook.md")
        assert all(0 < r.score <= 1 for r in results)
        ranking = call.file_search.ranking_options
        assert ranking is not None and ranking.ranker == "default_2024_08_21"

        (done,) = seen.messages_done
        block: Any = done.content[0]
        text = block.text
        assert text.value == ANSWER == "".join(d.value or "" for d in seen.deltas)
        (note,) = text.annotations
        assert note.type == "file_citation" and note.file_citation.file_id == ids["handbook.md"]
        assert text.value[note.start_index : note.end_index] == MARKER == note.text
        annotated = [d for d in seen.deltas if d.annotations]
        assert [d.value for d in annotated] == [MARKER]  # split upstream, annotated once, whole
        chunk = EmulatorConfig().chars_per_chunk
        assert all(len(d.value or "") <= chunk for d in seen.deltas if d not in annotated) and chunk < len(
            MARKER
        )
        assert seen.snapshot is not None and [a.text for a in seen.snapshot.annotations] == [MARKER]

        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
        plain = [s async for s in steps]
        listed = client.beta.threads.runs.steps.list(
            run.id, thread_id=thread.id, order="asc", include=[INCLUDE_CONTENT]
        )
        full = [s async for s in listed]
        bare = calls_of(plain[0])[0].file_search.results
        rich = calls_of(full[0])[0].file_search.results
        assert bare and all(r.content is None for r in bare)
        assert rich and rich[0].content and rich[0].content[0].text == DOCUMENTS["handbook.md"].strip()
        assert run.usage is not None and run.usage.total_tokens == sum(
            s.usage.total_tokens for s in plain if s.usage is not None
        )
