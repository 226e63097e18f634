"""`/v1/threads/{id}/messages`: add, list (optionally one run's), retrieve, modify, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import context
from gateway.api.parsing import page, parse
from gateway.api.responses import JSON
from gateway.schemas.openai import MessageIn, MetadataIn


async def create(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, MessageIn)
    return JSON(await ctx.backend.create_message(ctx.caller(request), request.path_params["thread_id"], body))


async def list_(request: Request) -> Response:
    ctx = context(request)
    thread_id, run_id = request.path_params["thread_id"], request.query_params.get("run_id")
    return JSON(await ctx.backend.list_messages(ctx.caller(request), thread_id, page(request), run_id))


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    ids = request.path_params["thread_id"], request.path_params["message_id"]
    return JSON(await ctx.backend.retrieve_message(ctx.caller(request), *ids))


async def modify(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, MetadataIn)
    ids = request.path_params["thread_id"], request.path_params["message_id"]
    return JSON(await ctx.backend.modify_message(ctx.caller(request), *ids, body))


async def delete(request: Request) -> Response:
    ctx = context(request)
    ids = request.path_params["thread_id"], request.path_params["message_id"]
    return JSON(await ctx.backend.delete_message(ctx.caller(request), *ids))
