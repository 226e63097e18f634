"""HTTP plumbing: auth and GroupId checks, parameters from query or JSON body, MiniMax JSON envelopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.emulator.assistants.records import T, paginate
from gateway.emulator.bodies import JsonResponse
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.status_codes import NOT_AUTHORIZED, ApiError, base_resp, error_body, invalid

JSON = dict[str, Any]
MODELS = frozenset(
    {
        "abab5.5-chat",
        "abab5.5s-chat",
        "abab6-chat",
        "abab6.5-chat",
        "abab6.5s-chat",
        "abab5.5-chat-240131",
        "abab5.5s-chat-240123",
    }
)
TOOL_TYPES = frozenset({"function", "web_search", "code_interpreter", "retrieval"})
MISSING_KEY = "cookie is missing, log in again"
BAD_KEY = "not authorized"
GROUP_MISMATCH = "token not match group"

R = TypeVar("R")


def ok(obj: JSON) -> JsonResponse:
    """The object's fields at top level plus the success base_resp."""
    return JsonResponse({**obj, "base_resp": base_resp()})


def authorize(config: EmulatorConfig, request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(NOT_AUTHORIZED, MISSING_KEY)
    if config.api_key is not None and token != config.api_key:
        raise ApiError(NOT_AUTHORIZED, BAD_KEY)
    group = request.query_params.get("GroupId")
    if config.group_id is not None and group is not None and group != config.group_id:
        raise ApiError(NOT_AUTHORIZED, GROUP_MISMATCH)


async def read_params(request: Request) -> Params:
    """JSON body (also accepted on GET, as MiniMax's samples send it) overlaid by query parameters."""
    raw = await request.body()
    body: Any = {}
    if raw.strip():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid("body is not valid JSON") from None
        if not isinstance(body, dict):
            raise invalid("body must be a JSON object")
    query = {k: v for k, v in request.query_params.items() if k != "GroupId"}
    return Params({**body, **query})


class Params:
    """Typed access to request parameters; every problem raises 2013 naming the parameter."""

    def __init__(self, data: JSON) -> None:
        self.data = data

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def string(self, name: str) -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or not value:
            raise invalid(f"{name} is required" if value is None else f"{name} must be a non-empty string")
        return value

    def opt_string(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise invalid(f"{name} must be an integer in [{lo}, {hi}]")
        return value

    def _typed(self, name: str, kind: type[R], label: str) -> R | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, kind):
            raise invalid(f"{name} must be {label}")
        return value

    def obj(self, name: str) -> JSON | None:
        return self._typed(name, dict, "an object")

    def str_list(self, name: str) -> list[str] | None:
        value = self._typed(name, list, "a list of strings")
        if value is not None and not all(isinstance(v, str) for v in value):
            raise invalid(f"{name} must be a list of strings")
        return value

    def obj_list(self, name: str) -> list[JSON] | None:
        value = self._typed(name, list, "a list of objects")
        if value is not None and not all(isinstance(v, dict) for v in value):
            raise invalid(f"{name} must be a list of objects")
        return value

    def metadata(self) -> dict[str, str] | None:
        value = self.obj("metadata")
        if value is not None and not all(isinstance(v, str) for v in value.values()):
            raise invalid("metadata values must be strings")
        return value

    def model(self, *, required: bool) -> str | None:
        value = self.string("model") if required else self.opt_string("model")
        if value is not None and value not in MODELS:
            raise invalid(f"unknown model: {value}")
        return value

    def tools(self) -> list[JSON] | None:
        tools = self.obj_list("tools")
        for i, tool in enumerate(tools or []):
            if tool.get("type") not in TOOL_TYPES:
                raise invalid(f"tools[{i}].type must be one of {sorted(TOOL_TYPES)}")
            fn = tool.get("function")
            if tool["type"] == "function" and not (isinstance(fn, dict) and isinstance(fn.get("name"), str)):
                raise invalid(f"tools[{i}].function.name is required")
        return tools

    def list_page(self, items: Sequence[T], render: Callable[[T], JSON]) -> JSON:
        """`{"object":"list","data","has_more","first_id","last_id"}` ("" ids when empty)."""
        order = self.data.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise invalid("order must be asc or desc")
        after, before = self.opt_string("after") or None, self.opt_string("before") or None
        page, has_more = paginate(
            items, limit=self.integer("limit", 20, 1, 100), order=order, after=after, before=before
        )
        first, last = (page[0].id, page[-1].id) if page else ("", "")
        return {
            "object": "list",
            "data": [render(i) for i in page],
            "has_more": has_more,
            "first_id": first,
            "last_id": last,
        }


Handler = Callable[[Params], Awaitable[JSON | Response]]


def endpoint(config: EmulatorConfig, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap `handler`: auth, parameters, success envelope, and ApiError as HTTP 200 + base_resp."""

    async def run(request: Request) -> Response:
        try:
            authorize(config, request)
            result = await handler(await read_params(request))
        except ApiError as exc:
            return JsonResponse(error_body(exc.code, exc.message))
        return result if isinstance(result, Response) else ok(result)

    run.__name__ = getattr(handler, "__name__", "endpoint")
    return run
