"""`/v1/threads` and `/v1/threads/{id}/messages`: threads and their messages on MiniMax."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.edge import JSON, parse
from gateway.api.listing import list_of
from gateway.api.services import Services, services
from gateway.errors import InvalidRequest
from gateway.schemas.openai import MessageIn, MetadataIn, ThreadIn
from gateway.translate import request as to_minimax
from gateway.translate.objects import message_to_openai, thread_to_openai
from gateway.upstream.client import Credentials


async def add_messages(
    svc: Services, auth: Credentials, thread_id: str, messages: list[tuple[MessageIn, str]]
) -> None:
    """Add messages to a thread in order; each comes with the request `param` that names it."""
    for message, param in messages:
        await svc.minimax.call(
            "POST",
            "threads/messages/add",
            auth=auth,
            ids_only=True,
            body=to_minimax.add_message(thread_id, message, param),
        )


async def create_thread(
    svc: Services, auth: Credentials, body: ThreadIn, keep_last_turn: bool
) -> tuple[dict[str, Any], MessageIn | None]:
    """Create a thread and add its messages. With `keep_last_turn`, a final user message is not
    added but returned, to go in the run's create_stream body (create-and-run)."""
    thread = await svc.minimax.call(
        "POST", "threads/create", auth=auth, body={"metadata": body.metadata or {}}
    )
    first, turn = to_minimax.split_input(body.messages) if keep_last_turn else (body.messages, None)
    await add_messages(svc, auth, thread["id"], [(m, f"messages[{i}]") for i, m in enumerate(first)])
    return thread, turn


async def create(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, ThreadIn)
    thread, _ = await create_thread(svc, svc.auth(request), body, keep_last_turn=False)
    return JSON(thread_to_openai(thread))


async def retrieve(request: Request) -> Response:
    svc = services(request)
    found = await svc.minimax.call(
        "GET",
        "threads/retrieve",
        auth=svc.auth(request),
        ids_only=True,
        params={"thread_id": request.path_params["thread_id"]},
    )
    return JSON(thread_to_openai(found))


async def create_message(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, MessageIn)
    thread_id = request.path_params["thread_id"]
    added = await svc.minimax.call(
        "POST",
        "threads/messages/add",
        auth=svc.auth(request),
        ids_only=True,
        body=to_minimax.add_message(thread_id, body, "content"),
    )
    return JSON(message_to_openai(added))


async def list_messages(request: Request) -> Response:
    page = await list_of(
        request, "threads/messages/list", message_to_openai, thread_id=request.path_params["thread_id"]
    )
    if run_id := request.query_params.get("run_id"):  # MiniMax has no such filter: applied to the page
        page["data"] = [m for m in page["data"] if m["run_id"] == run_id]
    return JSON(page)


async def retrieve_message(request: Request) -> Response:
    svc = services(request)
    found = await svc.minimax.call(
        "GET",
        "threads/messages/retrieve",
        auth=svc.auth(request),
        ids_only=True,
        params={
            "thread_id": request.path_params["thread_id"],
            "message_id": request.path_params["message_id"],
        },
    )
    return JSON(message_to_openai(found))


async def modify(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, MetadataIn)
    changed = await svc.minimax.call(
        "POST",
        "threads/modify",
        auth=svc.auth(request),
        ids_only=True,
        body={"id": request.path_params["thread_id"], "metadata": body.metadata or {}},
    )
    return JSON(thread_to_openai(changed.get("thread", changed)))


async def unsupported(request: Request) -> Response:
    """What MiniMax's Assistants API has no call for: a clear 400, never a 5xx the SDKs would retry."""
    raise InvalidRequest(
        f"{request.method} {request.url.path} is not supported: MiniMax's Assistants API "
        "has no equivalent operation",
        code="unsupported_operation",
    )
