"""`/v1/threads/{id}`: create, retrieve, modify, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.parsing import parse
from gateway.api.responses import JSON
from gateway.api.services import services
from gateway.schemas.openai import MetadataIn, ThreadIn


async def create(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, ThreadIn)
    return JSON(await svc.backend.create_thread(svc.caller(request), body))


async def retrieve(request: Request) -> Response:
    svc = services(request)
    return JSON(await svc.backend.retrieve_thread(svc.caller(request), request.path_params["thread_id"]))


async def modify(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, MetadataIn)
    return JSON(await svc.backend.modify_thread(svc.caller(request), request.path_params["thread_id"], body))


async def delete(request: Request) -> Response:
    svc = services(request)
    return JSON(await svc.backend.delete_thread(svc.caller(request), request.path_params["thread_id"]))
