"""`/v1/files`: upload (multipart, streamed), list, retrieve, delete, content."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.parsing import page
from gateway.api.responses import JSON
from gateway.api.services import services
from gateway.api.uploads import upload

LIST_MAX = 10_000  # OpenAI's files list: `limit` up to 10,000, and that is its default


async def create(request: Request) -> Response:
    svc = services(request)
    caller = svc.caller(request)
    return JSON(await svc.backend.documents.create_file(caller, await upload(request)))


async def list_(request: Request) -> Response:
    svc = services(request)
    purpose = request.query_params.get("purpose")
    return JSON(
        await svc.backend.documents.list_files(
            svc.caller(request), page(request, default=LIST_MAX, max_limit=LIST_MAX), purpose
        )
    )


async def retrieve(request: Request) -> Response:
    svc = services(request)
    return JSON(
        await svc.backend.documents.retrieve_file(svc.caller(request), request.path_params["file_id"])
    )


async def delete(request: Request) -> Response:
    svc = services(request)
    return JSON(await svc.backend.documents.delete_file(svc.caller(request), request.path_params["file_id"]))


async def content(request: Request) -> Response:
    svc = services(request)
    download = await svc.backend.documents.file_content(svc.caller(request), request.path_params["file_id"])
    headers = {
        "content-length": str(download.size),
        "content-disposition": f"attachment; filename*=UTF-8''{quote(download.filename)}",
    }
    return StreamingResponse(download.content, media_type="application/octet-stream", headers=headers)
