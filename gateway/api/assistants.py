"""`/v1/assistants`: create, retrieve, list, modify, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.parsing import page, parse
from gateway.api.responses import JSON
from gateway.api.services import services
from gateway.schemas.openai import AssistantIn, AssistantPatch


async def create(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, AssistantIn)
    return JSON(await svc.backend.create_assistant(svc.caller(request), body))


async def retrieve(request: Request) -> Response:
    svc = services(request)
    return JSON(
        await svc.backend.retrieve_assistant(svc.caller(request), request.path_params["assistant_id"])
    )


async def list_(request: Request) -> Response:
    svc = services(request)
    return JSON(await svc.backend.list_assistants(svc.caller(request), page(request)))


async def modify(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, AssistantPatch)
    assistant_id = request.path_params["assistant_id"]
    return JSON(await svc.backend.modify_assistant(svc.caller(request), assistant_id, body))


async def delete(request: Request) -> Response:
    svc = services(request)
    return JSON(await svc.backend.delete_assistant(svc.caller(request), request.path_params["assistant_id"]))
