"""OpenAI cursor lists over MiniMax list calls: validated paging parameters in, an OpenAI page out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from gateway.api.edge import list_page
from gateway.api.services import services
from gateway.errors import InvalidRequest

Convert = Callable[[dict[str, Any]], dict[str, Any]]


def page_params(request: Request) -> dict[str, Any]:
    """`limit` (1-100, default 20), `order` (`asc`/`desc`, default `desc`), `after`, `before`."""
    query = request.query_params
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'", param="order")
    return {"limit": int(limit), "order": order, **{k: query[k] for k in ("after", "before") if k in query}}


async def list_of(request: Request, path: str, convert: Convert, **ids: str) -> dict[str, Any]:
    """GET the MiniMax list at `path` for the objects named by `ids`; the page in OpenAI's shape."""
    svc = services(request)
    params = page_params(request)
    page = await svc.minimax.call(
        "GET", path, auth=svc.auth(request), ids_only=bool(ids), params={**ids, **params}
    )
    return list_page([convert(item) for item in page.get("data") or ()], page, params["limit"])
