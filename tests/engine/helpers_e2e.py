"""The engine end to end on loopback: the emulator and the gateway (BACKEND=engine) on real ports,
raw SSE and SDK clients, and the emulator's record of the chat requests a scenario caused."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.state import Context
from gateway.loopback import ServerThread
from gateway.settings import Settings
from tests.stream_checks import parse_sse

MODEL = "MiniMax-M2.7"
FAST = {"sweep_interval": 0.1, "lease_seconds": 1.0, "checkpoint_interval": 0.05}
Events = list[tuple[str, dict[str, Any]]]
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
TIME: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}


class NativeErrors:
    """Serve the emulator's native endpoint (`/v1/text/chatcompletion_v2`: errors as HTTP 200 with
    `base_resp`) on the path the engine calls, so both of MiniMax's error shapes reach the engine."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
            scope = {**scope, "path": "/v1/text/chatcompletion_v2", "raw_path": b"/v1/text/chatcompletion_v2"}
        await self.app(scope, receive, send)


class KeepAlive:
    """The emulator's streams without their `connection: close`, so the engine's connections to it are
    kept alive and reused by the runs after (as a server that keeps connections alive serves them)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def kept(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, kept)


class OneWrite:
    """Deliver each emulator response's body after its first `after` writes in one write (as a buffering
    proxy in front of MiniMax would), so the gateway reads the rest of a stream, an error chunk included,
    at once. A cut still cuts, after the rest."""

    def __init__(self, app: Any, after: int = 0) -> None:
        self.app = app
        self.state = app.state
        self.after = after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[bytes] = []
        passed = 0

        async def hold(message: Any) -> None:
            nonlocal passed
            if message["type"] != "http.response.body" or passed < self.after:
                passed += message["type"] == "http.response.body"
                await send(message)
                if passed == self.after and message["type"] == "http.response.body":
                    await asyncio.sleep(0.2)  # read apart from the rest
                return
            held.append(message.get("body", b""))
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"".join(held)})

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            await send({"type": "http.response.body", "body": b"".join(held), "more_body": True})
            raise


@dataclass
class Stack:
    """A gateway on the engine in front of one emulator."""

    url: str  # the gateway's `.../v1`
    emulator: Context

    def key(self) -> str:
        return f"sk-{uuid.uuid4().hex}"  # one tenant per scenario

    def sdk(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key or self.key(), max_retries=0)

    def http(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"},
            timeout=30,
        )

    def requests_with(self, token: str) -> list[dict[str, Any]]:
        """The chat requests whose messages mention `token` (a scenario's unique word), in order."""
        return [
            body
            for body in list(self.emulator.chat_requests)
            if any(token in str(m.get("content")) for m in body.get("messages") or ())
        ]


@contextmanager
def stack(
    config: EmulatorConfig,
    db_dir: Path,
    *,
    native: bool = False,
    one_write: int | None = None,
    keep_alive: bool = False,
    **settings: Any,
) -> Iterator[Stack]:
    """`native`: MiniMax's native error shape; `one_write`: each response after that many writes in one
    write (`OneWrite`); `keep_alive`: streams on connections kept alive (`KeepAlive`)."""
    emulator = create_emulator_app(config)
    app: Any = NativeErrors(emulator) if native else emulator
    app = KeepAlive(app) if keep_alive else app
    options = {**FAST, **settings}
    with ServerThread(app if one_write is None else OneWrite(app, one_write)) as upstream:
        gateway_settings = Settings(
            backend="engine",
            minimax_base_url=upstream.url,
            database_url=f"sqlite:///{db_dir / 'engine.db'}",
            **options,
        )
        with ServerThread(create_app(gateway_settings)) as gateway:
            yield Stack(gateway.url + "/v1", emulator.state.emulator)


def token() -> str:
    return f"tok{uuid.uuid4().hex[:10]}"


def post_events(client: httpx.Client, path: str, body: dict[str, Any]) -> Events:
    """POST a streamed request; its events (asserts a 200 and the `done` terminator)."""
    response = client.post(path, json={**body, "stream": True})
    assert response.status_code == 200, response.text
    return parse_sse(response.content)


def assistant(client: httpx.Client, **fields: Any) -> str:
    response = client.post("/assistants", json={"model": MODEL, **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def thread(client: httpx.Client, *texts: str) -> str:
    messages = [{"role": "user", "content": t} for t in texts]
    response = client.post("/threads", json={"messages": messages})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def add_message(client: httpx.Client, thread_id: str, text: str) -> None:
    response = client.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": text})
    assert response.status_code == 200, response.text


def get(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def messages(client: httpx.Client, thread_id: str) -> list[dict[str, Any]]:
    """The thread's messages, oldest first."""
    return list(get(client, f"/threads/{thread_id}/messages", order="asc", limit=100)["data"])


def steps(client: httpx.Client, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    return list(get(client, f"/threads/{thread_id}/runs/{run_id}/steps", order="asc", limit=100)["data"])


def text_of(message: dict[str, Any]) -> str:
    return "".join(c["text"]["value"] for c in message["content"] if c["type"] == "text")


def wait_run(client: httpx.Client, thread_id: str, run_id: str, timeout: float = 10) -> dict[str, Any]:
    """The run once it left queued/in_progress (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        run = get(client, f"/threads/{thread_id}/runs/{run_id}")
        if run["status"] not in ("queued", "in_progress", "cancelling"):
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}"
        time.sleep(0.02)


def delta_texts(events: Events) -> dict[str, str]:
    """Message id -> the text its deltas add up to."""
    out: dict[str, str] = {}
    for name, data in events:
        if name == "thread.message.delta":
            for part in data["delta"].get("content") or ():
                if part["type"] == "text":
                    out[data["id"]] = out.get(data["id"], "") + (part["text"].get("value") or "")
    return out


def run_of(events: Events) -> dict[str, Any]:
    """The run object of the stream's last run event."""
    for name, data in reversed(events):
        if name.startswith("thread.run.") and not name.startswith("thread.run.step."):
            return data
    raise AssertionError("no run event")
