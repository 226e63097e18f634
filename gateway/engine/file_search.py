"""The `file_search` tool as the engine runs it: offered to MiniMax as a function, served by the gateway.

MiniMax has no file_search of its own, so a run with the tool offers MiniMax a function of that name
(`DECLARATION`) and asks the model to cite what it uses (`CITE`). When the model calls it, the executor
has `FileSearch.call` search the vector stores the run may read (the assistant's and the thread's
`tool_resources.file_search.vector_store_ids`, as OpenAI resolved them), and sends the results back in
the same run (waiting up to a minute for files still being ingested, such as a message's attachments).
Each result goes to the model labelled with OpenAI's marker, `【{call}:{result}†{file}】`;
the markers given out are what `citations.Citations` turns into `file_citation` annotations.

What the client sees of a call is OpenAI's run-step shape: `{"id", "type": "file_search", "file_search":
{"ranking_options", "results": [{"file_id", "file_name", "score", "content"}]}}` (`content` is kept in
the store and shown only when `include[]` asks for it, as OpenAI did).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gateway.engine import tool_resources
from gateway.engine.citations import marker
from gateway.engine.retrieval.searcher import Searcher
from gateway.engine.store import Store, StoreError
from gateway.stream.events import Event, StreamEvent

NAME: Final = "file_search"
DEFAULT_RESULTS: Final = 20  # OpenAI's default max_num_results for the tool
READY_WAIT: Final = 60.0  # seconds a search waits for the stores' files still being ingested
RANKER: Final = "default_2024_08_21"
INCLUDE_CONTENT: Final = "step_details.tool_calls[*].file_search.results[*].content"
DECLARATION: Final = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Search the files the user provided (documents, manuals, notes) for passages relevant to the "
            "question. Call it whenever the answer may be in those files."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "queries": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "One or more search queries, each a few keywords or a short question",
                }
            },
            "required": ["queries"],
        },
    },
}
CITE: Final = (
    "Results of file_search come labelled with markers like 【0:1†name】. When you use a result, cite it by "
    "writing its marker, exactly as given, right after the sentence that uses it."
)


def declared(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's file_search tool (OpenAI's entry, with its `file_search` options), if it has one."""
    for tool in run.get("tools") or ():
        if tool.get("type") == NAME:
            return dict(tool)
    return None


@dataclass(slots=True)
class Call:
    """One file_search call served: its step details, what goes back to the model, the markers."""

    details: dict[str, Any]
    output: str
    markers: dict[str, str] = field(default_factory=dict)


def queries(arguments: str, fallback: str) -> list[str]:
    """The queries of the model's call (`{"queries": [...]}`, or a `query` string); `fallback` (the
    user's last words) when the arguments name none or cannot be read."""
    try:
        args = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        args = {}
    found: list[str] = []
    if isinstance(args, dict):
        raw = args.get("queries", args.get("query"))
        items = raw if isinstance(raw, list) else [raw]
        found = [q.strip() for q in items if isinstance(q, str) and q.strip()]
    return found[:5] or ([fallback] if fallback.strip() else [])


class FileSearch:
    def __init__(self, store: Store, searcher: Searcher) -> None:
        self._store = store
        self._searcher = searcher

    async def stores(self, tenant: str, run: Mapping[str, Any]) -> list[str]:
        """The vector stores the run may search: the assistant's, then the thread's (usable ones only)."""
        ids = await tool_resources.ids(self._store, tenant, run, NAME, "vector_store_ids")
        usable = []
        deadline = time.monotonic() + READY_WAIT
        for store_id in ids:
            try:
                found = await self._store.vector_stores.retrieve(tenant, store_id)
                while found["status"] == "in_progress" and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)  # files just attached are still being ingested
                    found = await self._store.vector_stores.retrieve(tenant, store_id)
            except StoreError:
                continue
            if found["status"] != "expired":
                usable.append(store_id)
        return usable

    async def call(
        self, tenant: str, run: Mapping[str, Any], call_id: str, arguments: str, number: int, fallback: str
    ) -> Call:
        """Serve the run's `number`th file_search call (its marker prefix) with the model's `arguments`."""
        tool = declared(run) or {}
        options = tool.get(NAME) or {}
        ranking = options.get("ranking_options") or {}
        threshold = float(ranking.get("score_threshold") or 0.0)
        limit = int(options.get("max_num_results") or DEFAULT_RESULTS)
        stores = await self.stores(tenant, run)
        asked = queries(arguments, fallback)
        results = (
            await self._searcher.search(stores, asked, limit=limit, score_threshold=threshold)
            if stores and asked
            else []
        )
        shown, lines, markers = [], [], {}
        for index, result in enumerate(results):
            label = marker(number, index, result.filename)
            markers[label] = result.file_id
            lines.append(f"{label}\n{result.text}")
            shown.append(
                {
                    "file_id": result.file_id,
                    "file_name": result.filename,
                    "score": result.score,
                    "content": [{"type": "text", "text": result.text}],
                }
            )
        details = {
            "id": call_id,
            "type": NAME,
            NAME: {"ranking_options": {"ranker": RANKER, "score_threshold": threshold}, "results": shown},
        }
        output = "\n\n".join(lines) if lines else "No results: the files hold nothing on this."
        return Call(details, output, markers)


def given_out(steps: Sequence[Mapping[str, Any]]) -> tuple[int, dict[str, str]]:
    """The searches a run made before it waited for tool outputs, read back from its steps (oldest
    first): how many, and the markers they gave out, so the continued run cites them and numbers its
    next search after them."""
    count, markers = 0, {}
    for step in steps:
        for call in (step.get("step_details") or {}).get("tool_calls") or ():
            if call.get("type") != NAME:
                continue
            for index, result in enumerate((call.get(NAME) or {}).get("results") or ()):
                markers[marker(count, index, result["file_name"])] = result["file_id"]
            count += 1
    return count, markers


def streamed(events: Sequence[StreamEvent], include: Sequence[str] = ()) -> list[StreamEvent]:
    """Events as a streaming client gets them: a file_search step's results without their `content`
    unless the run request's `include[]` asked for it (it is stored, for the step reads' `include[]`)."""
    if INCLUDE_CONTENT in include:
        return list(events)
    out: list[StreamEvent] = []
    for event in events:
        if type(event) is Event and event[0].startswith("thread.run.step."):
            out.append(Event(event[0], without_content(event[1], ())))
        else:
            out.append(event)
    return out


def without_content(step: dict[str, Any], include: Sequence[str]) -> dict[str, Any]:
    """A stored run step as a client sees it: file_search results' `content` only when asked for."""
    if INCLUDE_CONTENT in include:
        return step
    details = step.get("step_details") or {}
    calls = details.get("tool_calls") or ()
    if not any(c.get("type") == NAME for c in calls):
        return step
    shown = []
    for c in calls:
        if c.get("type") == NAME:
            body = dict(c.get(NAME) or {})
            body["results"] = [
                {k: v for k, v in r.items() if k != "content"} for r in body.get("results") or ()
            ]
            c = {**c, NAME: body}
        shown.append(c)
    return {**step, "step_details": {**details, "tool_calls": shown}}
