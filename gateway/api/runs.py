"""`/v1/threads/{id}/runs` and `/v1/threads/runs`: runs, streamed through the translator or as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.edge import JSON, parse
from gateway.api.listing import list_of
from gateway.api.services import Services, services
from gateway.api.streaming import EventStream
from gateway.api.threads import add_messages, create_thread
from gateway.lifecycle import StreamHandle
from gateway.relay import FrameSource, relay
from gateway.schemas.openai import MessageIn, MetadataIn, RunIn, SubmitToolOutputsIn, ThreadAndRunIn, ThreadIn
from gateway.translate import request as to_minimax
from gateway.translate.events import Event
from gateway.translate.objects import run_to_openai, step_to_openai, thread_to_openai
from gateway.translate.run_stream import RunStreamTranslator
from gateway.upstream.client import Credentials
from gateway.upstream.follow import RunFollower


async def create(request: Request) -> Response | EventStream:
    svc = services(request)
    body = await parse(request, RunIn)
    thread_id = request.path_params["thread_id"]
    auth = svc.auth(request)
    first, turn = to_minimax.split_input(body.additional_messages or [])
    await add_messages(svc, auth, thread_id, [(m, f"additional_messages[{i}]") for i, m in enumerate(first)])
    return await _start(svc, auth, thread_id, body, turn, f"additional_messages[{len(first)}]", prelude=())


async def create_thread_and_run(request: Request) -> Response | EventStream:
    svc = services(request)
    body = await parse(request, ThreadAndRunIn)
    auth = svc.auth(request)
    thread_in = body.thread or ThreadIn()
    thread, turn = await create_thread(svc, auth, thread_in, keep_last_turn=True)
    prelude = [Event("thread.created", thread_to_openai(thread))]
    turn_param = f"thread.messages[{len(thread_in.messages) - 1}]"
    return await _start(svc, auth, thread["id"], body, turn, turn_param, prelude)


async def retrieve(request: Request) -> Response:
    svc = services(request)
    found = await svc.minimax.call(
        "GET",
        "threads/run/retrieve",
        auth=svc.auth(request),
        ids_only=True,
        params={"thread_id": request.path_params["thread_id"], "run_id": request.path_params["run_id"]},
    )
    return JSON(run_to_openai(found))


async def _instructions(svc: Services, auth: Credentials, body: RunIn) -> str | None:
    """OpenAI appends `additional_instructions` to the run's (or the assistant's) instructions;
    MiniMax has no such field, so the gateway sends the joined text as `instructions`."""
    if not body.additional_instructions:
        return body.instructions
    base = body.instructions
    if base is None:
        assistant = await svc.minimax.call(
            "GET", "assistants/retrieve", auth=auth, ids_only=True, params={"assistant_id": body.assistant_id}
        )
        base = assistant.get("instructions") or ""
    return f"{base}\n\n{body.additional_instructions}" if base else body.additional_instructions


async def _start(
    svc: Services,
    auth: Credentials,
    thread_id: str,
    body: RunIn,
    turn: MessageIn | None,
    param: str,
    prelude: Sequence[Event],
) -> Response | EventStream:
    """Run on MiniMax: streamed through the translator, or as a JSON run. `param` names `turn`."""
    instructions = await _instructions(svc, auth, body)
    minimax_body = to_minimax.run(
        thread_id, body, svc.settings.model_aliases, instructions=instructions, turn=turn, param=param
    )
    if not body.stream:
        if turn is not None:  # run/create takes no input turn: add it first
            await add_messages(svc, auth, thread_id, [(turn, param)])
        minimax_body.pop("stream")
        minimax_body.pop("messages")
        run = await svc.minimax.call(
            "POST", "threads/run/create", auth=auth, body=minimax_body, ids=(thread_id, body.assistant_id)
        )
        return JSON(run_to_openai(run))
    handle = svc.lifecycle.open_stream()  # at the limit: 503 before MiniMax is asked anything
    try:
        upstream = await svc.minimax.open_stream(minimax_body, auth=auth, ids=(thread_id, body.assistant_id))
    except BaseException:
        handle.close()
        raise
    seed: dict[str, Any] = {
        "thread_id": thread_id,
        "assistant_id": body.assistant_id,
        "model": minimax_body.get("model", ""),
        "instructions": instructions or "",
        "tools": minimax_body.get("tools", []),
        "metadata": body.metadata or {},
    }
    translator = RunStreamTranslator(
        seed, new_id=svc.new_id, clock=svc.clock, text_mode=svc.settings.text_mode
    )
    return _event_stream(svc, handle, upstream, translator, prelude)


def _event_stream(
    svc: Services,
    handle: StreamHandle,
    source: FrameSource,
    translator: RunStreamTranslator,
    prelude: Sequence[Event],
) -> EventStream:
    produce = partial(relay, source, translator, prelude, svc.metrics)  # called (write, handle)
    return EventStream(produce, handle, svc.metrics, svc.keepalive)


def _ids(request: Request) -> dict[str, str]:
    return {"thread_id": request.path_params["thread_id"], "run_id": request.path_params["run_id"]}


async def list_(request: Request) -> Response:
    return JSON(
        await list_of(request, "threads/run/list", run_to_openai, thread_id=request.path_params["thread_id"])
    )


async def modify(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, MetadataIn)
    changed = await svc.minimax.call(
        "POST",
        "threads/run/modify",
        auth=svc.auth(request),
        ids_only=True,
        body={**_ids(request), "metadata": body.metadata or {}},
    )
    return JSON(run_to_openai(changed.get("run", changed)))


async def cancel(request: Request) -> Response:
    svc = services(request)
    cancelled = await svc.minimax.call(
        "POST", "threads/run/cancel", auth=svc.auth(request), ids_only=True, body=_ids(request)
    )
    if not cancelled.get("run") and not cancelled.get("id"):  # MiniMax may answer with no run at all
        cancelled = await svc.minimax.call(
            "GET", "threads/run/retrieve", auth=svc.auth(request), ids_only=True, params=_ids(request)
        )
    return JSON(run_to_openai(cancelled.get("run", cancelled)))


async def submit_tool_outputs(request: Request) -> Response | EventStream:
    """MiniMax takes tool outputs only as a JSON call. For `stream: true` the gateway submits, then
    follows the run by polling and streams what it sees through the same translator."""
    svc = services(request)
    body = await parse(request, SubmitToolOutputsIn)
    auth = svc.auth(request)
    ids = _ids(request)
    before = await svc.minimax.call(
        "GET",
        "threads/run_steps/list",
        auth=auth,
        ids_only=True,
        params={**ids, "order": "asc", "limit": 100},
    )
    outputs = [{"tool_call_id": o.tool_call_id, "output": o.output} for o in body.tool_outputs]
    run = await svc.minimax.call(
        "POST",
        "threads/run/submit_tool_outputs",
        auth=auth,
        ids_only=True,
        body={**ids, "tool_outputs": outputs},
    )
    if not body.stream:
        return JSON(run_to_openai(run))
    handle = svc.lifecycle.open_stream()
    steps_before = {s.get("id", ""): s.get("status", "") for s in before.get("data") or ()}
    settings = svc.settings
    follower = RunFollower(
        svc.minimax,
        auth,
        ids["thread_id"],
        ids["run_id"],
        steps_before,
        interval=settings.poll_interval,
        timeout=settings.follow_timeout,
    )
    translator = RunStreamTranslator(
        {**run, "status": "queued"},
        new_id=svc.new_id,
        clock=svc.clock,
        text_mode=settings.text_mode,
        resume_after=frozenset(steps_before),
    )
    return _event_stream(svc, handle, follower, translator, ())


async def list_steps(request: Request) -> Response:
    return JSON(await list_of(request, "threads/run_steps/list", step_to_openai, **_ids(request)))


async def retrieve_step(request: Request) -> Response:
    svc = services(request)
    found = await svc.minimax.call(
        "GET",
        "threads/run_steps/retrieve",
        auth=svc.auth(request),
        ids_only=True,
        params={**_ids(request), "step_id": request.path_params["step_id"]},
    )
    return JSON(step_to_openai(found))
