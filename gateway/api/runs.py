"""`/v1/threads/{id}/runs` and `/v1/threads/runs`: runs, streamed through the translator or as JSON."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.edge import JSON, parse
from gateway.api.services import Services, services
from gateway.api.streaming import EventStream
from gateway.api.threads import create_thread
from gateway.errors import InvalidRequest, NotFound
from gateway.relay import relay
from gateway.schemas.openai import MessageIn, RunIn, ThreadAndRunIn, ThreadIn
from gateway.translate import request as to_minimax
from gateway.translate.events import Event
from gateway.translate.objects import run_to_openai, thread_to_openai
from gateway.translate.run_stream import RunStreamTranslator


async def create(request: Request) -> Response | EventStream:
    svc = services(request)
    body = await parse(request, RunIn)
    thread_id = request.path_params["thread_id"]
    key = svc.key(request)
    first, turn = to_minimax.split_input(body.additional_messages or [])
    await _add_messages(svc, key, thread_id, first, "additional_messages")
    return await _start(svc, key, thread_id, body, turn, f"additional_messages[{len(first)}]", prelude=[])


async def create_thread_and_run(request: Request) -> Response | EventStream:
    svc = services(request)
    body = await parse(request, ThreadAndRunIn)
    key = svc.key(request)
    thread_in = body.thread or ThreadIn()
    thread, turn = await create_thread(svc, key, thread_in, keep_last_turn=True)
    prelude = [Event("thread.created", thread_to_openai(thread))]
    turn_param = f"thread.messages[{len(thread_in.messages) - 1}]"
    return await _start(svc, key, thread["id"], body, turn, turn_param, prelude)


async def retrieve(request: Request) -> Response:
    svc = services(request)
    found = await svc.minimax.call(
        "GET",
        "threads/run/retrieve",
        key=svc.key(request),
        ids_only=True,
        params={"thread_id": request.path_params["thread_id"], "run_id": request.path_params["run_id"]},
    )
    return JSON(run_to_openai(found))


async def _add_messages(
    svc: Services, key: str | None, thread_id: str, messages: list[MessageIn], param: str
) -> None:
    for i, message in enumerate(messages):
        await svc.minimax.call(
            "POST",
            "threads/messages/add",
            key=key,
            ids_only=True,
            body=to_minimax.add_message(thread_id, message, f"{param}[{i}]"),
        )


async def _instructions(svc: Services, key: str | None, body: RunIn) -> str | None:
    """OpenAI appends `additional_instructions` to the run's (or the assistant's) instructions;
    MiniMax has no such field, so the gateway sends the joined text as `instructions`."""
    if not body.additional_instructions:
        return body.instructions
    base = body.instructions
    if base is None:
        assistant = await svc.minimax.call(
            "GET", "assistants/retrieve", key=key, ids_only=True, params={"assistant_id": body.assistant_id}
        )
        base = assistant.get("instructions") or ""
    return f"{base}\n\n{body.additional_instructions}" if base else body.additional_instructions


async def _start(
    svc: Services,
    key: str | None,
    thread_id: str,
    body: RunIn,
    turn: MessageIn | None,
    param: str,
    prelude: list[Event],
) -> Response | EventStream:
    """Run on MiniMax: streamed through the translator, or as a JSON run. `param` names `turn`."""
    instructions = await _instructions(svc, key, body)
    minimax_body = to_minimax.run(
        thread_id, body, svc.settings.model_aliases, instructions=instructions, turn=turn, param=param
    )
    if not body.stream:
        if turn is not None:
            await svc.minimax.call(
                "POST",
                "threads/messages/add",
                key=key,
                ids_only=True,
                body=to_minimax.add_message(thread_id, turn, param),
            )
        minimax_body.pop("stream")
        minimax_body.pop("messages")
        run = await svc.minimax.call("POST", "threads/run/create", key=key, body=minimax_body)
        return JSON(run_to_openai(run))
    try:
        upstream, first = await svc.minimax.open_stream(minimax_body, key=key)
    except InvalidRequest as exc:
        # MiniMax answers an unknown thread or assistant with "invalid params" naming the id.
        if thread_id in exc.message or body.assistant_id in exc.message:
            raise NotFound(exc.message) from None
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
    return EventStream(relay(upstream, first, translator, prelude))
