"""`/v1/assistants`: create, retrieve, list, modify, delete, mapped onto MiniMax's assistants API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.edge import JSON, parse
from gateway.api.listing import list_of
from gateway.api.services import services
from gateway.schemas.openai import AssistantIn, AssistantPatch
from gateway.translate import request as to_minimax
from gateway.translate.objects import assistant_to_openai


async def create(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, AssistantIn)
    made = await svc.minimax.call(
        "POST",
        "assistants/create",
        auth=svc.auth(request),
        body=to_minimax.assistant(body, svc.settings.model_aliases),
    )
    return JSON(assistant_to_openai(made))


async def retrieve(request: Request) -> Response:
    svc = services(request)
    found = await svc.minimax.call(
        "GET",
        "assistants/retrieve",
        auth=svc.auth(request),
        ids_only=True,
        params={"assistant_id": request.path_params["assistant_id"]},
    )
    return JSON(assistant_to_openai(found))


async def list_(request: Request) -> Response:
    return JSON(await list_of(request, "assistants/list", assistant_to_openai))


async def modify(request: Request) -> Response:
    svc = services(request)
    assistant_id = request.path_params["assistant_id"]
    auth = svc.auth(request)
    body = await parse(request, AssistantPatch)
    # MiniMax's modify wants model, name and instructions every time: start from the current ones.
    current = await svc.minimax.call(
        "GET", "assistants/retrieve", auth=auth, ids_only=True, params={"assistant_id": assistant_id}
    )
    merged = {
        "id": assistant_id,
        "model": current.get("model"),
        "name": current.get("name"),
        "instructions": current.get("instructions"),
    }
    merged.update(to_minimax.assistant_patch(body, svc.settings.model_aliases))
    changed = await svc.minimax.call("POST", "assistants/modify", auth=auth, body=merged, ids_only=True)
    return JSON(assistant_to_openai(changed.get("assistant", changed)))


async def delete(request: Request) -> Response:
    svc = services(request)
    assistant_id = request.path_params["assistant_id"]
    done = await svc.minimax.call(
        "POST",
        "assistants/delete",
        auth=svc.auth(request),
        ids_only=True,
        body={"assistant_id": assistant_id},
    )
    return JSON(
        {"id": assistant_id, "object": "assistant.deleted", "deleted": bool(done.get("deleted", True))}
    )
