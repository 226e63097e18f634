"""The bridge backend: every Assistants operation as calls to MiniMax's Assistants API, with the
workarounds its gaps need (modify re-sends unchanged fields, cancel may answer with no run, no
`run_id` filter on message lists, no `additional_instructions`, no streamed tool outputs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from gateway.backend import Caller, Documents, Obj, Page, RunResult
from gateway.bridge import request as to_minimax
from gateway.bridge.client import Credentials, MiniMaxClient
from gateway.bridge.documents import UnsupportedDocuments
from gateway.bridge.events import FrameEvents
from gateway.bridge.follow import RunFollower
from gateway.bridge.models import model_aliases
from gateway.bridge.shapes import (
    assistant_to_openai,
    message_to_openai,
    run_to_openai,
    step_to_openai,
    thread_to_openai,
)
from gateway.bridge.translator import RunStreamTranslator
from gateway.errors import InvalidRequest
from gateway.metrics import Metrics
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
from gateway.schemas.status import RunStatus
from gateway.settings import Settings
from gateway.stream.events import Clock, Event, NewId, StreamEvent
from gateway.upstream.http import upstream_http


def _auth(caller: Caller) -> Credentials:
    return Credentials(caller.api_key, caller.account)


def _page(data: list[Obj], upstream: dict[str, Any], limit: int) -> Obj:
    """OpenAI's cursor page. MiniMax may omit `has_more`; then a full page says "maybe more"."""
    has_more = upstream.get("has_more")
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": bool(has_more) if isinstance(has_more, bool) else len(data) >= limit,
    }


def _unsupported(what: str) -> InvalidRequest:
    """What MiniMax's Assistants API has no call for: a clear 400, never a 5xx the SDKs would retry."""
    return InvalidRequest(
        f"{what} is not supported: MiniMax's Assistants API has no equivalent operation",
        code="unsupported_operation",
    )


class BridgeBackend:
    """`Backend` over MiniMax's Assistants API (`threads/run/create_stream` and friends)."""

    def __init__(
        self, settings: Settings, minimax: MiniMaxClient, metrics: Metrics, *, new_id: NewId, clock: Clock
    ) -> None:
        self._settings = settings
        self._aliases = model_aliases(settings)
        self._minimax = minimax
        self._metrics = metrics
        self._new_id = new_id
        self._clock = clock
        self.documents: Documents = UnsupportedDocuments()

    async def _call(
        self,
        caller: Caller,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._minimax.call(method, path, auth=_auth(caller), params=params, body=body)

    async def _list(self, caller: Caller, path: str, page: Page, **ids: str) -> tuple[list[Any], Obj]:
        params = {"limit": page.limit, "order": page.order, "after": page.after, "before": page.before}
        found = await self._call(caller, "GET", path, params={**ids, **params})
        return list(found.get("data") or ()), found

    async def ready(self) -> bool:
        return await self._minimax.reachable()

    # -- assistants ------------------------------------------------------------------------------

    async def create_assistant(self, caller: Caller, body: AssistantIn) -> Obj:
        made = await self._call(
            caller, "POST", "assistants/create", body=to_minimax.assistant(body, self._aliases)
        )
        return assistant_to_openai(made)

    async def retrieve_assistant(self, caller: Caller, assistant_id: str) -> Obj:
        found = await self._call(caller, "GET", "assistants/retrieve", params={"assistant_id": assistant_id})
        return assistant_to_openai(found)

    async def list_assistants(self, caller: Caller, page: Page) -> Obj:
        items, found = await self._list(caller, "assistants/list", page)
        return _page([assistant_to_openai(a) for a in items], found, page.limit)

    async def modify_assistant(self, caller: Caller, assistant_id: str, body: AssistantPatch) -> Obj:
        # MiniMax's modify wants model, name and instructions every time: start from the current ones.
        current = await self._call(
            caller, "GET", "assistants/retrieve", params={"assistant_id": assistant_id}
        )
        merged = {
            "id": assistant_id,
            "model": current.get("model"),
            "name": current.get("name"),
            "instructions": current.get("instructions"),
        }
        merged.update(to_minimax.assistant_patch(body, self._aliases))
        changed = await self._call(caller, "POST", "assistants/modify", body=merged)
        return assistant_to_openai(changed.get("assistant", changed))

    async def delete_assistant(self, caller: Caller, assistant_id: str) -> Obj:
        done = await self._call(caller, "POST", "assistants/delete", body={"assistant_id": assistant_id})
        return {"id": assistant_id, "object": "assistant.deleted", "deleted": bool(done.get("deleted", True))}

    # -- threads and messages --------------------------------------------------------------------

    async def _add_messages(
        self, caller: Caller, thread_id: str, messages: Sequence[tuple[MessageIn, str]]
    ) -> None:
        """Add messages to a thread in order; each comes with the request `param` that names it."""
        for message, param in messages:
            await self._call(
                caller, "POST", "threads/messages/add", body=to_minimax.add_message(thread_id, message, param)
            )

    async def _new_thread(
        self, caller: Caller, body: ThreadIn, keep_last_turn: bool
    ) -> tuple[dict[str, Any], MessageIn | None]:
        """Create a thread and add its messages. With `keep_last_turn`, a final user message is not
        added but returned, to go in the run's create_stream body (create-and-run)."""
        thread = await self._call(caller, "POST", "threads/create", body={"metadata": body.metadata or {}})
        first, turn = to_minimax.split_input(body.messages) if keep_last_turn else (body.messages, None)
        await self._add_messages(caller, thread["id"], [(m, f"messages[{i}]") for i, m in enumerate(first)])
        return thread, turn

    async def create_thread(self, caller: Caller, body: ThreadIn) -> Obj:
        thread, _ = await self._new_thread(caller, body, keep_last_turn=False)
        return thread_to_openai(thread)

    async def retrieve_thread(self, caller: Caller, thread_id: str) -> Obj:
        return thread_to_openai(
            await self._call(caller, "GET", "threads/retrieve", params={"thread_id": thread_id})
        )

    async def modify_thread(self, caller: Caller, thread_id: str, body: MetadataIn) -> Obj:
        changed = await self._call(
            caller, "POST", "threads/modify", body={"id": thread_id, "metadata": body.metadata or {}}
        )
        return thread_to_openai(changed.get("thread", changed))

    async def delete_thread(self, caller: Caller, thread_id: str) -> Obj:
        raise _unsupported(f"DELETE /v1/threads/{thread_id}")

    async def create_message(self, caller: Caller, thread_id: str, body: MessageIn) -> Obj:
        added = await self._call(
            caller, "POST", "threads/messages/add", body=to_minimax.add_message(thread_id, body, "content")
        )
        return message_to_openai(added)

    async def list_messages(self, caller: Caller, thread_id: str, page: Page, run_id: str | None) -> Obj:
        items, found = await self._list(caller, "threads/messages/list", page, thread_id=thread_id)
        out = _page([message_to_openai(m) for m in items], found, page.limit)
        if run_id:  # MiniMax has no such filter: applied to the page (its cursors stay the page's)
            out["data"] = [m for m in out["data"] if m["run_id"] == run_id]
        return out

    async def retrieve_message(self, caller: Caller, thread_id: str, message_id: str) -> Obj:
        found = await self._call(
            caller,
            "GET",
            "threads/messages/retrieve",
            params={"thread_id": thread_id, "message_id": message_id},
        )
        return message_to_openai(found)

    async def modify_message(self, caller: Caller, thread_id: str, message_id: str, body: MetadataIn) -> Obj:
        raise _unsupported(f"POST /v1/threads/{thread_id}/messages/{message_id}")

    async def delete_message(self, caller: Caller, thread_id: str, message_id: str) -> Obj:
        raise _unsupported(f"DELETE /v1/threads/{thread_id}/messages/{message_id}")

    # -- runs ------------------------------------------------------------------------------------

    async def create_run(
        self, caller: Caller, thread_id: str, body: RunIn, include: Sequence[str] = ()
    ) -> RunResult:
        first, turn = to_minimax.split_input(body.additional_messages or [])
        await self._add_messages(
            caller, thread_id, [(m, f"additional_messages[{i}]") for i, m in enumerate(first)]
        )
        return await self._start(caller, thread_id, body, turn, f"additional_messages[{len(first)}]", ())

    async def create_thread_and_run(self, caller: Caller, body: ThreadAndRunIn) -> RunResult:
        thread_in = body.thread or ThreadIn()
        thread, turn = await self._new_thread(caller, thread_in, keep_last_turn=True)
        prelude = [Event("thread.created", thread_to_openai(thread))]
        turn_param = f"thread.messages[{len(thread_in.messages) - 1}]"
        return await self._start(caller, thread["id"], body, turn, turn_param, prelude)

    async def _instructions(self, caller: Caller, body: RunIn) -> str | None:
        """OpenAI appends `additional_instructions` to the run's (or the assistant's) instructions;
        MiniMax has no such field, so the gateway sends the joined text as `instructions`."""
        if not body.additional_instructions:
            return body.instructions
        base = body.instructions
        if base is None:
            assistant = await self._call(
                caller, "GET", "assistants/retrieve", params={"assistant_id": body.assistant_id}
            )
            base = assistant.get("instructions") or ""
        return f"{base}\n\n{body.additional_instructions}" if base else body.additional_instructions

    async def _start(
        self,
        caller: Caller,
        thread_id: str,
        body: RunIn,
        turn: MessageIn | None,
        param: str,
        prelude: Sequence[StreamEvent],
    ) -> RunResult:
        """Run on MiniMax: streamed through the translator, or as a JSON run. `param` names `turn`."""
        instructions = await self._instructions(caller, body)
        minimax_body = to_minimax.run(
            thread_id, body, self._aliases, instructions=instructions, turn=turn, param=param
        )
        if not body.stream:
            if turn is not None:  # run/create takes no input turn: add it first
                await self._add_messages(caller, thread_id, [(turn, param)])
            minimax_body.pop("stream")
            minimax_body.pop("messages")
            return run_to_openai(await self._call(caller, "POST", "threads/run/create", body=minimax_body))
        opener = partial(self._minimax.open_stream, minimax_body, auth=_auth(caller))
        seed: dict[str, Any] = {
            "thread_id": thread_id,
            "assistant_id": body.assistant_id,
            "model": minimax_body.get("model", ""),
            "instructions": instructions or "",
            "tools": minimax_body.get("tools", []),
            "metadata": body.metadata or {},
        }
        translator = RunStreamTranslator(
            seed, new_id=self._new_id, clock=self._clock, text_mode=self._settings.text_mode
        )
        return FrameEvents(opener, translator, self._metrics, prelude)

    async def list_runs(self, caller: Caller, thread_id: str, page: Page) -> Obj:
        items, found = await self._list(caller, "threads/run/list", page, thread_id=thread_id)
        return _page([run_to_openai(r) for r in items], found, page.limit)

    async def retrieve_run(self, caller: Caller, thread_id: str, run_id: str) -> Obj:
        ids = {"thread_id": thread_id, "run_id": run_id}
        return run_to_openai(await self._call(caller, "GET", "threads/run/retrieve", params=ids))

    async def modify_run(self, caller: Caller, thread_id: str, run_id: str, body: MetadataIn) -> Obj:
        changed = await self._call(
            caller,
            "POST",
            "threads/run/modify",
            body={"thread_id": thread_id, "run_id": run_id, "metadata": body.metadata or {}},
        )
        return run_to_openai(changed.get("run", changed))

    async def cancel_run(self, caller: Caller, thread_id: str, run_id: str) -> Obj:
        ids = {"thread_id": thread_id, "run_id": run_id}
        cancelled = await self._call(caller, "POST", "threads/run/cancel", body=ids)
        if not cancelled.get("run") and not cancelled.get("id"):  # MiniMax may answer with no run at all
            cancelled = await self._call(caller, "GET", "threads/run/retrieve", params=ids)
        return run_to_openai(cancelled.get("run", cancelled))

    async def submit_tool_outputs(
        self, caller: Caller, thread_id: str, run_id: str, body: SubmitToolOutputsIn
    ) -> RunResult:
        """MiniMax takes tool outputs only as a JSON call. For `stream: true` the gateway submits, then
        follows the run by polling and streams what it sees through the same translator."""
        ids = {"thread_id": thread_id, "run_id": run_id}
        before = await self._call(
            caller, "GET", "threads/run_steps/list", params={**ids, "order": "asc", "limit": 100}
        )
        outputs = [{"tool_call_id": o.tool_call_id, "output": o.output} for o in body.tool_outputs]
        run = await self._call(
            caller, "POST", "threads/run/submit_tool_outputs", body={**ids, "tool_outputs": outputs}
        )
        if not body.stream:
            return run_to_openai(run)
        steps_before = {s.get("id", ""): s.get("status", "") for s in before.get("data") or ()}
        settings = self._settings
        follower = RunFollower(
            self._minimax,
            _auth(caller),
            thread_id,
            run_id,
            steps_before,
            interval=settings.poll_interval,
            timeout=settings.follow_timeout,
        )
        translator = RunStreamTranslator(
            {**run, "status": RunStatus.QUEUED.value},
            new_id=self._new_id,
            clock=self._clock,
            text_mode=settings.text_mode,
            resume_after=frozenset(steps_before),
        )
        return FrameEvents(follower, translator, self._metrics)

    async def list_steps(
        self, caller: Caller, thread_id: str, run_id: str, page: Page, include: list[str]
    ) -> Obj:
        items, found = await self._list(
            caller, "threads/run_steps/list", page, thread_id=thread_id, run_id=run_id
        )
        return _page([step_to_openai(s) for s in items], found, page.limit)

    async def retrieve_step(
        self, caller: Caller, thread_id: str, run_id: str, step_id: str, include: list[str]
    ) -> Obj:
        params = {"thread_id": thread_id, "run_id": run_id, "step_id": step_id}
        return step_to_openai(await self._call(caller, "GET", "threads/run_steps/retrieve", params=params))


@asynccontextmanager
async def open_bridge(
    settings: Settings, metrics: Metrics, *, new_id: NewId, clock: Clock
) -> AsyncIterator[BridgeBackend]:
    """The bridge with its connection pool, open for an app's lifetime."""
    async with upstream_http(settings, metrics) as upstream:
        minimax = MiniMaxClient(settings, upstream.http, upstream.streams, metrics)
        yield BridgeBackend(settings, minimax, metrics, new_id=new_id, clock=clock)
