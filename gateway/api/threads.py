"""`/v1/threads/{id}`: create, retrieve, modify, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import context
from gateway.api.parsing import parse
from gateway.api.responses import JSON
from gateway.schemas.openai import MetadataIn, ThreadIn


async def create(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, ThreadIn)
    return JSON(await ctx.backend.create_thread(ctx.caller(request), body))


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.retrieve_thread(ctx.caller(request), request.path_params["thread_id"]))


async def modify(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, MetadataIn)
    return JSON(await ctx.backend.modify_thread(ctx.caller(request), request.path_params["thread_id"], body))


async def delete(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.delete_thread(ctx.caller(request), request.path_params["thread_id"]))
