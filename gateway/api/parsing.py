"""Request input, validated at the edge: JSON bodies into OpenAI models, list parameters into a `Page`."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from gateway.backend import Page
from gateway.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


async def parse(request: Request, model: type[M]) -> M:
    """Validate the JSON body; a failure is a 400 naming the offending `param`."""
    raw = await request.body()
    try:
        doc = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a JSON object")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "literal")))
        kind = "Missing required parameter" if first["type"] == "missing" else "Invalid value"
        raise InvalidRequest(f"{kind}: '{param}' ({first['msg']})", param=param or None) from None


def page(request: Request) -> Page:
    """`limit` (1-100, default 20), `order` (`asc`/`desc`, default `desc`), `after`, `before`."""
    query = request.query_params
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100", param="limit")
    order = query.get("order", "desc")
    if order == "asc":
        return Page(int(limit), "asc", query.get("after"), query.get("before"))
    if order == "desc":
        return Page(int(limit), "desc", query.get("after"), query.get("before"))
    raise InvalidRequest("order must be 'asc' or 'desc'", param="order")


def include(request: Request) -> list[str]:
    """`include[]` of run-step reads (accepted: OpenAI's one value asks for file-search contents)."""
    return request.query_params.getlist("include[]")
