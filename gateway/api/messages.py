"""`/v1/threads/{id}/messages`: add, list (optionally one run's), retrieve, modify, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.parsing import page, parse
from gateway.api.responses import JSON
from gateway.api.services import services
from gateway.schemas.openai import MessageIn, MetadataIn


async def create(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, MessageIn)
    return JSON(await svc.backend.create_message(svc.caller(request), request.path_params["thread_id"], body))


async def list_(request: Request) -> Response:
    svc = services(request)
    thread_id, run_id = request.path_params["thread_id"], request.query_params.get("run_id")
    return JSON(await svc.backend.list_messages(svc.caller(request), thread_id, page(request), run_id))


async def retrieve(request: Request) -> Response:
    svc = services(request)
    ids = request.path_params["thread_id"], request.path_params["message_id"]
    return JSON(await svc.backend.retrieve_message(svc.caller(request), *ids))


async def modify(request: Request) -> Response:
    svc = services(request)
    body = await parse(request, MetadataIn)
    ids = request.path_params["thread_id"], request.path_params["message_id"]
    return JSON(await svc.backend.modify_message(svc.caller(request), *ids, body))


async def delete(request: Request) -> Response:
    svc = services(request)
    ids = request.path_params["thread_id"], request.path_params["message_id"]
    return JSON(await svc.backend.delete_message(svc.caller(request), *ids))
