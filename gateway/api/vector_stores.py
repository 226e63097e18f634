"""`/v1/vector_stores`: stores (create, list, retrieve, modify, delete, search), the files in a store
(add, list, retrieve, update attributes, remove, content) and file batches (create, retrieve, cancel,
list files)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.context import context
from gateway.api.parsing import page, parse
from gateway.api.responses import JSON
from gateway.schemas.documents import (
    AttributesIn,
    FileBatchIn,
    SearchIn,
    StoreFileIn,
    VectorStoreIn,
    VectorStorePatch,
)


def _vs(request: Request) -> str:
    return str(request.path_params["vs"])


def _file(request: Request) -> tuple[str, str]:
    return request.path_params["vs"], request.path_params["file"]


def _batch(request: Request) -> tuple[str, str]:
    return request.path_params["vs"], request.path_params["batch"]


async def create(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, VectorStoreIn)
    return JSON(await ctx.backend.documents.create_vector_store(ctx.caller(request), body))


async def list_(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.list_vector_stores(ctx.caller(request), page(request)))


async def retrieve(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.retrieve_vector_store(ctx.caller(request), _vs(request)))


async def modify(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, VectorStorePatch)
    return JSON(await ctx.backend.documents.modify_vector_store(ctx.caller(request), _vs(request), body))


async def delete(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.delete_vector_store(ctx.caller(request), _vs(request)))


async def search(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, SearchIn)
    return JSON(await ctx.backend.documents.search_vector_store(ctx.caller(request), _vs(request), body))


async def add_file(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, StoreFileIn)
    return JSON(await ctx.backend.documents.create_store_file(ctx.caller(request), _vs(request), body))


async def list_files(request: Request) -> Response:
    ctx = context(request)
    status = request.query_params.get("filter")
    return JSON(
        await ctx.backend.documents.list_store_files(ctx.caller(request), _vs(request), page(request), status)
    )


async def retrieve_file(request: Request) -> Response:
    ctx = context(request)
    found = await ctx.backend.documents.retrieve_store_file(ctx.caller(request), *_file(request))
    # The SDKs' polling helpers wait this long between reads (their default is a second).
    poll = {"openai-poll-after-ms": "200"} if found.get("status") == "in_progress" else None
    return JSON(found, headers=poll)


async def update_file(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, AttributesIn)
    vs, file = _file(request)
    return JSON(await ctx.backend.documents.update_store_file(ctx.caller(request), vs, file, body))


async def delete_file(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.delete_store_file(ctx.caller(request), *_file(request)))


async def file_content(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.store_file_content(ctx.caller(request), *_file(request)))


async def create_batch(request: Request) -> Response:
    ctx = context(request)
    body = await parse(request, FileBatchIn)
    return JSON(await ctx.backend.documents.create_file_batch(ctx.caller(request), _vs(request), body))


async def retrieve_batch(request: Request) -> Response:
    ctx = context(request)
    found = await ctx.backend.documents.retrieve_file_batch(ctx.caller(request), *_batch(request))
    poll = {"openai-poll-after-ms": "200"} if found.get("status") == "in_progress" else None
    return JSON(found, headers=poll)


async def cancel_batch(request: Request) -> Response:
    ctx = context(request)
    return JSON(await ctx.backend.documents.cancel_file_batch(ctx.caller(request), *_batch(request)))


async def list_batch_files(request: Request) -> Response:
    ctx = context(request)
    vs, batch = _batch(request)
    status = request.query_params.get("filter")
    return JSON(
        await ctx.backend.documents.list_batch_files(ctx.caller(request), vs, batch, page(request), status)
    )
