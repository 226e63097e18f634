"""Request input, validated at the edge: JSON bodies into OpenAI models, list parameters into a `Page`."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from gateway.backend import Page
from gateway.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
# A JSON \u0000 escape (not an escaped backslash followed by the text "u0000").
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def parse(request: Request, model: type[M]) -> M:
    """Validate the JSON body; a failure is a 400 naming the offending `param`."""
    raw = await request.body()
    try:
        doc = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    if b"\\u0000" in raw and _NUL.search(raw):  # PostgreSQL's text cannot hold it
        raise InvalidRequest("Strings in the request may not contain NUL characters (\\u0000)")
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a JSON object")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = field_path(first["loc"], doc, missing=first["type"] == "missing")
        kind = "Missing required parameter" if first["type"] == "missing" else "Invalid value"
        message = "Input should be an object" if first["type"] == "model_type" else first["msg"]
        raise InvalidRequest(
            f"{kind}: '{param}' ({message})", param=param or None, code=_code(first)
        ) from None


def field_path(loc: tuple[int | str, ...], doc: Any, *, missing: bool = False) -> str:
    """The OpenAI path of an error's location (`tools[3].function.name`). The location is walked
    through the document itself: a step that is not a key or index in it (a union member's label,
    `function-after[...]`) is pydantic's, not the client's; a missing field is the last step."""
    path, node = "", doc
    for i, step in enumerate(loc):
        if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
            path, node = f"{path}[{step}]", node[step]
        elif (
            isinstance(step, str)
            and isinstance(node, dict)
            and (step in node or (missing and i == len(loc) - 1))
        ):
            path, node = f"{path}.{step}" if path else step, node.get(step)
    return path


_CODES = {
    "missing": "missing_required_parameter",
    "string_too_long": "string_above_max_length",
    "too_long": "array_above_max_length",
    "too_short": "empty_array",
}


def _code(error: ErrorDetails) -> str | None:
    """OpenAI's `code` for the violations it names; others carry none, as OpenAI's type errors do."""
    if error["type"] in ("greater_than_equal", "less_than_equal"):
        bound = (error.get("ctx") or {}).get("ge", (error.get("ctx") or {}).get("le"))
        number = "decimal" if isinstance(bound, float) else "integer"
        side = "below_min" if error["type"] == "greater_than_equal" else "above_max"
        return f"{number}_{side}_value"
    return _CODES.get(error["type"])


def page(request: Request, *, default: int = 20, max_limit: int = 100) -> Page:
    """`limit` (1-`max_limit`, default `default`: 1-100 and 20 for most lists), `order` (`asc`/`desc`,
    default `desc`), `after`, `before`."""
    query = request.query_params
    limit = query.get("limit", str(default))
    digits = len(str(max_limit))
    if not (limit.isascii() and limit.isdigit() and len(limit) <= digits and 1 <= int(limit) <= max_limit):
        raise InvalidRequest(f"limit must be an integer from 1 to {max_limit}", param="limit")
    order = query.get("order", "desc")
    if order == "asc":
        return Page(int(limit), "asc", query.get("after"), query.get("before"))
    if order == "desc":
        return Page(int(limit), "desc", query.get("after"), query.get("before"))
    raise InvalidRequest("order must be 'asc' or 'desc'", param="order")


def include(request: Request) -> list[str]:
    """`include[]` of run-step reads (accepted: OpenAI's one value asks for file-search contents)."""
    return request.query_params.getlist("include[]")
