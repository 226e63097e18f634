"""What the engine cannot run is refused up front, end to end: where no sandbox can run (here: the tool
switched off, a sandbox server named without its token, a sandbox that cannot start Python), a
`code_interpreter` tool, an attachment for it, or a `tool_choice` naming it is a 400 naming the param and
the reason, and nothing reaches MiniMax: code is never run unsandboxed (images: `test_images.py`; the
tools the engine serves: `tests/e2e/test_file_search_sdk.py`, `tests/e2e/test_code_interpreter_sdk.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.emulator.config import EmulatorConfig
from tests.engine.helpers_e2e import MODEL, WEATHER, Stack, assistant, get, stack, thread

REASONS: dict[str, tuple[dict[str, Any], str]] = {
    "off": ({"code_interpreter": False}, "CODE_INTERPRETER is off"),
    "no token": ({"code_sandbox_url": "http://127.0.0.1:9"}, "without CODE_SANDBOX_TOKEN"),
    # A sandbox that cannot start Python (1 MiB of address space): found at start-up, not at every call.
    "cannot run": ({"code_memory_bytes": 1 << 20}, "no sandbox can run here"),
}


@pytest.fixture(scope="module", params=sorted(REASONS))
def s(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    settings, reason = REASONS[request.param]
    with stack(EmulatorConfig(), tmp_path_factory.mktemp("unsupported"), **settings) as s:
        s.reason = reason  # type: ignore[attr-defined]
        yield s


def refused(response: httpx.Response, param: str, *words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert all(w in error["message"] for w in words), error


@pytest.mark.parametrize("tool", ["code_interpreter"])
def test_unrunnable_tools_in_an_assistant(s: Stack, tool: str) -> None:
    client = s.http(s.key())
    created = client.post("/assistants", json={"model": MODEL, "tools": [WEATHER, {"type": tool}]})
    refused(created, "tools[1].type", tool, s.reason)  # type: ignore[attr-defined]
    assert get(client, "/assistants")["data"] == []
    assistant_id = assistant(client, tools=[WEATHER])
    modified = client.post(f"/assistants/{assistant_id}", json={"tools": [{"type": tool}]})
    refused(modified, "tools[0].type", tool)
    assert get(client, f"/assistants/{assistant_id}")["tools"] == [WEATHER]


@pytest.mark.parametrize("tool", ["code_interpreter"])
def test_unrunnable_tools_in_a_run(s: Stack, tool: str) -> None:
    client = s.http(s.key())
    before = len(s.emulator.chat_requests)
    assistant_id = assistant(client)
    thread_id = thread(client, "hello")
    for stream in (False, True):
        body: dict[str, Any] = {"assistant_id": assistant_id, "tools": [{"type": tool}], "stream": stream}
        refused(client.post(f"/threads/{thread_id}/runs", json=body), "tools[0].type", tool)
        forced = {"assistant_id": assistant_id, "tool_choice": {"type": tool}, "stream": stream}
        refused(client.post(f"/threads/{thread_id}/runs", json=forced), "tool_choice", tool)
        refused(client.post("/threads/runs", json={**body, "thread": {}}), "tools[0].type", tool)
    assert get(client, f"/threads/{thread_id}/runs")["data"] == []
    assert len(s.emulator.chat_requests) == before


def test_attachments_for_code_interpreter_are_refused(s: Stack) -> None:
    client = s.http(s.key())
    thread_id = thread(client, "hello")
    attachment = {"file_id": "file-x", "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]}
    message = {"role": "user", "content": "see the file", "attachments": [attachment]}
    refused(
        client.post(f"/threads/{thread_id}/messages", json=message),
        "attachments[0].tools[1].type",
        "code_interpreter",
    )
    refused(client.post("/threads", json={"messages": [message]}), "messages[0].attachments[0].tools[1].type")
    assert len(get(client, f"/threads/{thread_id}/messages")["data"]) == 1
