"""`/v1/assistants`: create, retrieve, list, modify, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import context
from gateway.api.parsing import page, parse
from gateway.api.responses import JSON
from gateway.schemas.openai import AssistantIn, AssistantPatch


async def create(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, AssistantIn)
    return JSON(await ctx.backend.create_assistant(ctx.caller(request), body))


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    return JSON(
        await ctx.backend.retrieve_assistant(ctx.caller(request), request.path_params["assistant_id"])
    )


async def list_(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.list_assistants(ctx.caller(request), page(request)))


async def modify(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, AssistantPatch)
    assistant_id = request.path_params["assistant_id"]
    return JSON(await ctx.backend.modify_assistant(ctx.caller(request), assistant_id, body))


async def delete(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.delete_assistant(ctx.caller(request), request.path_params["assistant_id"]))
