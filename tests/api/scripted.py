"""A scripted MiniMax upstream for the edge tests: an ASGI function plays the upstream's side of one
request frame by frame, and `gateway` serves the bridge in front of it over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from gateway.app import create_app
from gateway.loopback import ServerThread
from gateway.settings import Settings

Script = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]
AUTH = {"Authorization": "Bearer sk-client"}
RUN_BODY = {"assistant_id": "asst_1", "stream": True}


def frame(obj: dict[str, Any], base_resp: dict[str, Any] | None = None) -> bytes:
    return b"data: " + json.dumps({"data": obj, "base_resp": base_resp or {}}).encode() + b"\n\n"


RUN = {
    "id": "run_1",
    "object": "run",
    "status": "in_progress",
    "thread_id": "thread_1",
    "assistant_id": "asst_1",
}


def text(value: str) -> bytes:
    return frame(
        {
            "id": "msg_1",
            "object": "message",
            "role": "ai",
            "content": [{"type": "text", "text": {"value": value}}],
        }
    )


async def start(
    send: Callable[[Any], Awaitable[None]],
    status: int = 200,
    ctype: bytes = b"text/event-stream",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), *(headers or [])],
        }
    )


async def body(send: Callable[[Any], Awaitable[None]], data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


@contextmanager
def gateway(script: Script, wrap: Callable[[Any], Any] | None = None, **settings: Any) -> Iterator[str]:
    """The bridge over real HTTP in front of `script`; `wrap(app)` is served instead of the app, if given."""

    async def upstream(
        scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await script(scope, receive, send)

    with (
        ServerThread(upstream) as up,
        ServerThread(_app(Settings(backend="assistants", minimax_base_url=up.url, **settings), wrap)) as gw,
    ):
        yield gw.url + "/v1"


def _app(settings: Settings, wrap: Callable[[Any], Any] | None) -> Any:
    app = create_app(settings)
    return app if wrap is None else wrap(app)


def post_run(
    base: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{base}/threads/thread_1/runs",
        json=body or RUN_BODY,
        headers=AUTH if headers is None else headers,
        timeout=20,
    )


def assert_error(response: httpx.Response, status: int, **fields: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    for key, value in fields.items():
        assert error[key] == value, (key, error)
    assert "sk-client" not in response.text
    return error
