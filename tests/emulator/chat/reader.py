"""A strict reader of the emulator's chat-completions stream, and the emulator app the `chat_emu`
fixture starts (`ChatEmu`); shared by the chat tests, which import it from here (not from each other).

The reader is deliberately plain: concatenate content, concatenate (or, for cumulative snapshots, take
the last) reasoning, merge tool-call pieces by index, strip the think tags, and keep the usage chunk,
the final `chat.completion` object and `[DONE]` apart. Anything it does not expect fails an assertion.
`assert_native` and `assert_compat` check an error response in each of MiniMax's two shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from gateway.emulator import EmulatorConfig, create_emulator_app
from gateway.emulator.state import Context
from gateway.loopback import ServerThread
from tests.emulator.sse import parse_sse as sse_events

COMPAT, NATIVE = "/v1/chat/completions", "/v1/text/chatcompletion_v2"
SPEAKER = {"role": "assistant", "name": "MiniMax AI", "audio_content": ""}
SENSITIVE_KEYS = {"input_sensitive", "output_sensitive", "input_sensitive_type", "output_sensitive_type"}


def split_think(content: str) -> tuple[str | None, str]:
    """(thinking, answer) of a content string: `<think>\\n..\\n</think>\\n\\n`, a bare closer, or none."""
    if "</think>" in content:
        before, after = content.split("</think>", 1)
        assert after == "" or after.startswith("\n\n"), after[:20]
        return before.removeprefix("<think>").strip("\n"), after.removeprefix("\n\n")
    if content.startswith("<think>"):  # a length cut inside the thinking
        return content.removeprefix("<think>").removeprefix("\n"), ""
    return None, content


@dataclass
class Read:
    id: str = ""
    content: str = ""  # all content deltas, concatenated as sent
    reasoning_field: str | None = None  # from reasoning_content
    details_text: str | None = None  # from reasoning_details[0].text
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    done: bool = False
    empty_role: int = 0
    events: int = 0

    @property
    def answer(self) -> str:
        return split_think(self.content)[1]

    @property
    def reasoning(self) -> str:
        inline = split_think(self.content)[0]
        if inline is not None and self.reasoning_field is not None:
            assert inline == self.reasoning_field, "inline thinking and reasoning_content differ"
        found = inline if inline is not None else self.reasoning_field
        assert found is not None, "no reasoning at all"
        return found

    def tool_calls(self) -> list[dict[str, Any]]:
        assert sorted(self.calls) == list(range(len(self.calls))), "tool call indexes not 0..n-1"
        return [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(self.calls.items())
        ]


def _reasoning(so_far: str | None, value: str, cumulative: bool) -> str:
    if cumulative:
        assert value.startswith(so_far or ""), "a cumulative snapshot does not extend the previous one"
        return value
    return (so_far or "") + value


def _delta(read: Read, delta: dict[str, Any], cumulative: bool) -> None:
    if delta.get("role") == "":
        assert delta == {"role": "", "reasoning_content": ""}, delta
        read.empty_role += 1
        return
    if not delta:
        return
    assert {k: delta[k] for k in SPEAKER} == SPEAKER, delta
    read.content += delta.get("content", "")
    if "reasoning_content" in delta:
        read.reasoning_field = _reasoning(read.reasoning_field, delta["reasoning_content"], cumulative)
        (detail,) = delta["reasoning_details"]
        assert detail["type"] == "reasoning.text" and detail["format"] == "MiniMax-response-v1", detail
        read.details_text = _reasoning(read.details_text, detail["text"], cumulative)
    for tc in delta.get("tool_calls", []):
        fn = tc["function"]
        if tc["index"] not in read.calls:
            assert tc["id"] and tc["type"] == "function" and fn["name"], tc
            read.calls[tc["index"]] = {"id": tc["id"], "name": fn["name"], "arguments": fn["arguments"]}
        else:
            assert tc.get("id", "") == "" and "name" not in fn, tc
            read.calls[tc["index"]]["arguments"] += fn["arguments"]


def read_events(events: list[bytes], *, cumulative: bool = False) -> Read:
    read = Read()
    for payload in events:
        assert not read.done and read.final is None and read.error is None, "event after the end"
        read.events += 1
        if payload == b"[DONE]":
            assert read.usage is not None, "[DONE] before usage"
            read.done = True
            continue
        obj = orjson.loads(payload)
        assert read.id in ("", obj["id"]) and len(obj["id"]) == 32, obj["id"]
        read.id = obj["id"]
        if obj.get("base_resp", {}).get("status_code", 0) != 0:
            read.error = obj
        elif obj["object"] == "chat.completion":
            read.final = obj
        elif obj["choices"] == []:
            assert read.usage is None and obj["base_resp"] == {"status_code": 0, "status_msg": ""}, obj
            read.usage = obj["usage"]
        else:
            assert obj["object"] == "chat.completion.chunk" and obj.keys() >= SENSITIVE_KEYS, obj
            assert read.usage is None, "delta after the usage chunk"
            (choice,) = obj["choices"]
            assert choice["index"] == 0
            if (delta_usage := obj["usage"]) is not None:
                assert choice["delta"].get("role") == "" and delta_usage["total_tokens"] == 0, obj
            _delta(read, choice["delta"], cumulative)
            if "finish_reason" in choice:
                assert read.finish_reason is None, "two finish reasons"
                read.finish_reason = choice["finish_reason"]
    if read.details_text is not None or read.reasoning_field is not None:
        assert read.details_text == read.reasoning_field, "reasoning_details and reasoning_content differ"
    return read


class ChatEmu:
    """A running emulator (its context reachable) and a client for the chat endpoints."""

    def __init__(self, **fields: Any) -> None:
        self.config = EmulatorConfig(**fields)
        app = create_emulator_app(self.config)
        self.ctx: Context = app.state.emulator
        self.server = ServerThread(app).start()
        key = self.config.api_key or "test-key"
        self.client = httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {key}"})

    def post(self, body: dict[str, Any], path: str = COMPAT) -> httpx.Response:
        return self.client.post(path, json=body)

    def stream(self, body: dict[str, Any], path: str = COMPAT) -> Read:
        r = self.post({"stream": True, **body}, path)
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream", r.text
        return read_events(sse_events(r.content), cumulative=self.config.chat_reasoning == "cumulative")

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def assert_native(r: httpx.Response, code: int) -> str:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "" and body["choices"] is None and body["base_resp"]["status_code"] == code, body
    return str(body["base_resp"]["status_msg"])


def assert_compat(r: httpx.Response, status: int, kind: str, code: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error" and re.fullmatch(r"[0-9a-f]{32}", body["request_id"]), body
    error = body["error"]
    assert (
        error["type"] == kind
        and error["http_code"] == str(status)
        and error["message"].endswith(f" ({code})")
    )
    return str(error["message"])
