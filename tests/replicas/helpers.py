"""What the replica tests share: an SDK client and a raw streamed run against one replica, and waits for
what another replica is doing, seen through the public API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai

from tests.stream_checks import parse_sse

KEY = "sk-replicas"
AUTH = {"Authorization": f"Bearer {KEY}"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)


def stream_run(url: str, thread_id: str, assistant_id: str) -> list[tuple[str, dict[str, Any]]]:
    with httpx.Client(timeout=60) as http:
        response = http.post(
            f"{url}/threads/{thread_id}/runs",
            headers=AUTH,
            json={"assistant_id": assistant_id, "stream": True},
        )
    assert response.status_code == 200, response.text
    return parse_sse(response.content)


def wait_for_reply(url: str, thread_id: str) -> None:
    client = sdk(url)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(m.role == "assistant" for m in client.beta.threads.messages.list(thread_id)):
            return
        time.sleep(0.05)
    raise AssertionError("no reply started")


def wait_for_run(url: str, thread_id: str, status: str) -> str:
    client = sdk(url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        runs = client.beta.threads.runs.list(thread_id).data
        if runs and runs[0].status == status:
            return runs[0].id
        time.sleep(0.05)
    raise AssertionError(f"no run reached {status}")
