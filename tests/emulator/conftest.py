"""Fixtures for the emulator tests: real servers on loopback (ServerThread) and a small wire client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.emulator import EmulatorConfig, create_emulator_app
from gateway.loopback import ServerThread
from tests.emulator.sse import parse_sse

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "get weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


class Emu:
    """A running emulator plus an authenticated httpx client and wire helpers."""

    def __init__(self, server: ServerThread, api_key: str) -> None:
        self.server = server
        self.url = server.url
        self.client = httpx.Client(
            base_url=f"{server.url}/v1", headers={"Authorization": f"Bearer {api_key}"}
        )

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.client.post(path, json=body or {})
        assert r.status_code == 200
        out: dict[str, Any] = r.json()
        return out

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = self.client.get(path, params=params)
        assert r.status_code == 200
        out: dict[str, Any] = r.json()
        return out

    def ok(self, body: dict[str, Any]) -> dict[str, Any]:
        assert body["base_resp"] == {"status_code": 0, "status_msg": "success"}, body
        return body

    def assistant(self, tools: list[dict[str, Any]] | None = None, model: str = "abab6-chat") -> str:
        return str(self.ok(self.post("/assistants/create", {"model": model, "tools": tools or []}))["id"])

    def thread(self) -> str:
        return str(self.ok(self.post("/threads/create"))["id"])

    def setup(self, tools: list[dict[str, Any]] | None = None) -> tuple[str, str]:
        return self.assistant(tools), self.thread()

    def stream_body(
        self, assistant_id: str, thread_id: str, text: str | None, **extra: Any
    ) -> dict[str, Any]:
        messages = [] if text is None else [{"type": 1, "role": "user", "content": text}]
        return {
            "stream": 1,
            "assistant_id": assistant_id,
            "thread_id": thread_id,
            "messages": messages,
            **extra,
        }

    def stream_raw(self, body: dict[str, Any]) -> httpx.Response:
        return self.client.post("/threads/run/create_stream", json=body)

    def stream(
        self, assistant_id: str, thread_id: str, text: str | None, **extra: Any
    ) -> list[dict[str, Any]]:
        r = self.stream_raw(self.stream_body(assistant_id, thread_id, text, **extra))
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream", r.text
        return [orjson.loads(p) for p in parse_sse(r.content)]

    def wait_run(
        self, thread_id: str, run_id: str, statuses: set[str], timeout: float = 5.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.ok(self.get("/threads/run/retrieve", thread_id=thread_id, run_id=run_id))
            if run["status"] in statuses or time.monotonic() > deadline:
                return run
            time.sleep(0.01)

    def close(self) -> None:
        self.client.close()


ServeFactory = Callable[..., Emu]


@pytest.fixture
def serve() -> Iterator[ServeFactory]:
    """`serve(**config_fields)` starts an emulator with that config; all are stopped at teardown."""
    started: list[tuple[ServerThread, Emu]] = []

    def start(**fields: Any) -> Emu:
        config = EmulatorConfig(**fields)
        server = ServerThread(create_emulator_app(config)).start()
        emu = Emu(server, config.api_key or "test-key")
        started.append((server, emu))
        return emu

    yield start
    for server, emu in started:
        emu.close()
        server.stop()


@pytest.fixture(scope="module")
def emu() -> Iterator[Emu]:
    """A default-config emulator shared by a module's tests (each test uses its own threads)."""
    server = ServerThread(create_emulator_app(EmulatorConfig())).start()
    client = Emu(server, "test-key")
    yield client
    client.close()
    server.stop()


def ai_texts(frames: list[dict[str, Any]]) -> list[str]:
    return [
        f["data"]["content"][0]["text"]["value"]
        for f in frames
        if f.get("data", {}).get("object") == "message" and f["data"]["role"] == "ai"
    ]


@pytest.fixture
def helpers() -> Any:
    """Module-free access to helper functions (tests/ has no package to import them from)."""

    class H:
        parse = staticmethod(parse_sse)
        ai = staticmethod(ai_texts)
        weather = WEATHER_TOOL

    return H
