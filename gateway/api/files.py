"""`/v1/files`: upload (multipart, streamed), list, retrieve, delete, content."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.context import context
from gateway.api.parsing import page
from gateway.api.responses import JSON
from gateway.api.uploads import upload

LIST_MAX = 10_000  # OpenAI's files list: `limit` up to 10,000, and that is its default


async def create(request: Request) -> Response:
    ctx = context(request)
    caller = ctx.caller(request)
    return JSON(await ctx.backend.documents.create_file(caller, await upload(request)))


async def list_(request: Request) -> Response:
    ctx = context(request)
    purpose = request.query_params.get("purpose")
    return JSON(
        await ctx.backend.documents.list_files(
            ctx.caller(request), page(request, default=LIST_MAX, max_limit=LIST_MAX), purpose
        )
    )


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    return JSON(
        await ctx.backend.documents.retrieve_file(ctx.caller(request), request.path_params["file_id"])
    )


async def delete(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.delete_file(ctx.caller(request), request.path_params["file_id"]))


async def content(request: Request) -> Response:
    ctx = context(request)
    download = await ctx.backend.documents.file_content(ctx.caller(request), request.path_params["file_id"])
    headers = {
        "content-length": str(download.size),
        "content-disposition": f"attachment; filename*=UTF-8''{quote(download.filename)}",
    }
    return StreamingResponse(download.content, media_type="application/octet-stream", headers=headers)
