"""`/v1/threads/{id}/runs`, `/v1/threads/runs` and run steps: runs as JSON or as event streams."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import context
from gateway.api.parsing import include, page, parse
from gateway.api.responses import JSON, run_result
from gateway.schemas.openai import MetadataIn, RunIn, SubmitToolOutputsIn, ThreadAndRunIn


async def create(request: Request) -> Any:
    ctx = context(request)
    body = await parse(request, RunIn)
    caller, thread_id, asked = ctx.caller(request), request.path_params["thread_id"], include(request)
    return await run_result(ctx, body.stream, lambda: ctx.backend.create_run(caller, thread_id, body, asked))


async def create_thread_and_run(request: Request) -> Any:
    ctx = context(request)
    body = await parse(request, ThreadAndRunIn)
    caller = ctx.caller(request)
    return await run_result(ctx, body.stream, lambda: ctx.backend.create_thread_and_run(caller, body))


async def submit_tool_outputs(request: Request) -> Any:
    ctx = context(request)
    body = await parse(request, SubmitToolOutputsIn)
    caller, ids = ctx.caller(request), _ids(request)
    return await run_result(ctx, body.stream, lambda: ctx.backend.submit_tool_outputs(caller, *ids, body))


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["thread_id"], request.path_params["run_id"]


async def list_(request: Request) -> Response:
    ctx = context(request)
    return JSON(
        await ctx.backend.list_runs(ctx.caller(request), request.path_params["thread_id"], page(request))
    )


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.retrieve_run(ctx.caller(request), *_ids(request)))


async def modify(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, MetadataIn)
    return JSON(await ctx.backend.modify_run(ctx.caller(request), *_ids(request), body))


async def cancel(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.cancel_run(ctx.caller(request), *_ids(request)))


async def list_steps(request: Request) -> Response:
    ctx = context(request)
    caller = ctx.caller(request)
    return JSON(await ctx.backend.list_steps(caller, *_ids(request), page(request), include(request)))


async def retrieve_step(request: Request) -> Response:
    ctx = context(request)
    step_id = request.path_params["step_id"]
    return JSON(
        await ctx.backend.retrieve_step(ctx.caller(request), *_ids(request), step_id, include(request))
    )
