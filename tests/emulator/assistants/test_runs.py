"""Runs over real HTTP: background runs and polling, tools, submit_tool_outputs, cancel, one active run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
import pytest

from gateway.emulator import text_reply, tool_result_reply
from gateway.emulator.assistants.model import BuiltinCall, FunctionCall, decide

PARAMS = {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}


def test_decide_is_pure_and_follows_the_rules() -> None:
    tools: list[Mapping[str, object]] = [
        WEATHER,
        {"type": "function", "function": {"name": "lookup"}},
        {"type": "web_search"},
    ]
    assert decide("Call get_weather for Paris.", tools) == FunctionCall("get_weather", '{"location":"Paris"}')
    assert decide("please lookup with 东京\uff01", tools) == FunctionCall("lookup", '{"input":"东京"}')
    assert decide("get_weathers", tools) is None
    assert decide("Search for MiniMax news", tools) == BuiltinCall("web_search", "MiniMax news")
    assert decide("search get_weather on Rome", tools) == FunctionCall("get_weather", '{"location":"Rome"}')
    assert decide("calculate 6*7", [{"type": "code_interpreter"}]) == BuiltinCall("code_interpreter", "6*7")
    assert decide("read the document", [{"type": "retrieval"}]) == BuiltinCall(
        "retrieval", "read the document"
    )
    assert decide("search it", []) is None
    assert tool_result_reply("f", "42") == "The result of f is: 42"
    reply = text_reply("x")
    assert len(reply) > 40 and any(ord(c) > 0xFFFF for c in reply) and "你好" in reply and "é" in reply


def test_non_stream_run_polling(serve: Any) -> None:
    e = serve(pace_ms=15)
    aid, tid = e.setup()
    e.ok(e.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "poll me"}))
    run = e.ok(e.post("/threads/run/create", {"thread_id": tid, "assistant_id": aid}))
    assert run["status"] == "queued" and run["object"] == "thread.run" and run["started_at"] == 0
    seen = [run["status"]]
    while seen[-1] not in ("completed", "failed"):
        status = e.ok(e.get("/threads/run/retrieve", thread_id=tid, run_id=run["id"]))["status"]
        if status != seen[-1]:
            seen.append(status)
        time.sleep(0.01)
    assert seen == ["queued", "in_progress", "completed"]
    steps = e.ok(e.get("/threads/run_steps/list", thread_id=tid, run_id=run["id"]))
    assert [(s["type"], s["status"], s["object"]) for s in steps["data"]] == [
        ("message_creation", "completed", "thread.run.step")
    ]
    assert steps["data"][0]["base_resp"]["status_code"] == 0
    msgs = e.ok(e.get("/threads/messages/list", thread_id=tid))["data"]
    assert msgs[0]["role"] == "assistant" and msgs[0]["run_id"] == run["id"]
    assert msgs[0]["content"][0]["text"]["value"] == text_reply("poll me")
    assert steps["data"][0]["step_details"]["message_creation"]["message_id"] == msgs[0]["id"]
    step = e.ok(
        e.get("/threads/run_steps/retrieve", thread_id=tid, run_id=run["id"], step_id=steps["first_id"])
    )
    assert step["id"] == steps["first_id"]
    listed = e.ok(e.get("/threads/run/list", thread_id=tid))
    assert [r["id"] for r in listed["data"]] == [run["id"]] and listed["data"][0]["status"] == "completed"
    modified = e.ok(
        e.post("/threads/run/modify", {"thread_id": tid, "run_id": run["id"], "metadata": {"a": "b"}})
    )
    assert modified["run"]["metadata"] == {"a": "b"}


def test_function_tool_stream_submit_and_poll(emu: Any) -> None:
    aid, tid = emu.setup([WEATHER, {"type": "web_search"}])
    frames = emu.stream(aid, tid, "Call get_weather for Paris.")
    assert [f["data"]["object"] for f in frames] == ["run", "run", "message", "run step", "run"]
    step, run = frames[3]["data"], frames[-1]["data"]
    call = step["step_details"]["tool_calls"][0]
    assert step["type"] == "tool_calls" and step["status"] == "in_progress" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"location":"Paris"}', "output": ""}
    assert run["status"] == "requires_action" and frames[-1]["base_resp"] == {
        "status_code": 0,
        "status_msg": "success",
    }
    required = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert run["required_action"]["type"] == "submit_tool_outputs" and [c["id"] for c in required] == [
        call["id"]
    ]
    assert orjson.loads(required[0]["function"]["arguments"]) == {"location": "Paris"}

    base = {"thread_id": tid, "run_id": run["id"]}
    for outputs in ([{"tool_call_id": "call_wrong", "output": "x"}], [], None):
        bad = emu.post("/threads/run/submit_tool_outputs", {**base, "tool_outputs": outputs})
        assert bad["base_resp"]["status_code"] == 2013
    assert emu.get("/threads/run/retrieve", **base)["status"] == "requires_action"
    submitted = emu.ok(
        emu.post(
            "/threads/run/submit_tool_outputs",
            {**base, "tool_outputs": [{"tool_call_id": call["id"], "output": "晴 22°C"}]},
        )
    )
    assert submitted["id"] == run["id"] and submitted["status"] in ("queued", "in_progress")
    assert emu.wait_run(tid, run["id"], {"completed"})["status"] == "completed"
    again = emu.post(
        "/threads/run/submit_tool_outputs",
        {**base, "tool_outputs": [{"tool_call_id": call["id"], "output": "x"}]},
    )
    assert again["base_resp"]["status_code"] == 2013

    steps = emu.ok(emu.get("/threads/run_steps/list", thread_id=tid, run_id=run["id"], order="asc"))["data"]
    assert [(s["type"], s["status"]) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    assert steps[0]["step_details"]["tool_calls"][0]["function"]["output"] == "晴 22°C"
    reply = emu.ok(emu.get("/threads/messages/list", thread_id=tid))["data"][0]
    assert reply["role"] == "assistant" and reply["content"][0]["text"]["value"] == tool_result_reply(
        "get_weather", "晴 22°C"
    )


def test_function_tool_non_stream_and_run_tools_override(emu: Any) -> None:
    aid, tid = emu.setup()  # the assistant has no tools; the run brings its own
    emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "get_weather on Oslo"})
    run = emu.ok(emu.post("/threads/run/create", {"thread_id": tid, "assistant_id": aid, "tools": [WEATHER]}))
    waiting = emu.wait_run(tid, run["id"], {"requires_action", "completed"})
    assert waiting["status"] == "requires_action"
    call = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"location":"Oslo"}'


@pytest.mark.parametrize(
    ("tool", "text", "key"),
    [
        ("web_search", "Search for MiniMax", "web_search"),
        ("code_interpreter", "calculate 6*7", "code_interpreter"),
        ("retrieval", "what does the file say", "retrieval"),
    ],
)
def test_builtin_tools(emu: Any, helpers: Any, tool: str, text: str, key: str) -> None:
    aid, tid = emu.setup([{"type": tool}])
    frames = emu.stream(aid, tid, text)
    steps = [
        f["data"] for f in frames if f["data"]["object"] == "run step" and f["data"]["type"] == "tool_calls"
    ]
    assert [s["status"] for s in steps] == ["in_progress", "completed"]
    pending, done = (s["step_details"]["tool_calls"][0] for s in steps)
    assert pending["type"] == key and pending["id"] == done["id"] and not pending[key]["outputs"]
    assert done[key]["outputs"] and frames[-1]["data"]["status"] == "completed"
    if tool == "code_interpreter":
        assert done[key]["outputs"] == [{"type": "logs", "logs": "6*7\n"}]
    text_out = "".join(helpers.ai(frames))
    if tool != "web_search":
        assert text_out == text_reply(text)
        return
    marker = "【1†source】"
    start = text_out.index(marker)
    annotated = [
        f["data"]["content"][0]
        for f in frames
        if f["data"].get("role") == "ai" and f["data"]["content"][0]["text"]["annotations"]
    ]
    assert len(annotated) == 1  # only the frame whose piece completes the marker
    (ann,) = annotated[0]["text"]["annotations"]
    assert ann["type"] == "web_citation" and ann["text"] == marker
    assert (ann["start_index"], ann["end_index"]) == (start, start + len(marker))
    assert ann["web_citation"]["url"].startswith("https://example.com/") and ann["web_citation"]["quote"]
    assert (
        text_out[: ann["end_index"]].endswith(marker) and annotated[0]["text"]["value"] in marker + text_out
    )
    rest = emu.ok(emu.get("/threads/messages/list", thread_id=tid))["data"][0]["content"][0]["text"]
    assert rest["annotations"] == [ann]


def test_cancel_a_streaming_run(emu: Any) -> None:
    aid, tid = emu.setup()
    body = emu.stream_body(aid, tid, "cancel me", metadata={"emulator_pace_ms": "30"})
    frames: list[dict[str, Any]] = []
    with emu.client.stream("POST", "/threads/run/create_stream", json=body) as r:
        for line in r.iter_lines():
            if not line:
                continue
            frames.append(orjson.loads(line[6:]))
            if sum(1 for f in frames if f["data"].get("role") == "ai") == 3:
                cancelled = emu.ok(
                    emu.post("/threads/run/cancel", {"thread_id": tid, "run_id": frames[0]["data"]["id"]})
                )
                assert cancelled["run"]["status"] == "cancelled" and cancelled["run"]["cancelled_at"] > 0
    assert frames[-1]["data"]["status"] == "cancelled" and frames[-1]["base_resp"]["status_code"] == 0
    assert sum(1 for f in frames if f["data"].get("role") == "ai") < -(-len(text_reply("cancel me")) // 4)
    steps = emu.get("/threads/run_steps/list", thread_id=tid, run_id=frames[0]["data"]["id"])["data"]
    assert [s["status"] for s in steps] == ["cancelled"]
    again = emu.post("/threads/run/cancel", {"thread_id": tid, "run_id": frames[0]["data"]["id"]})
    assert again["base_resp"]["status_code"] == 2013


def test_cancel_background_and_one_active_run_per_thread(emu: Any) -> None:
    aid, tid = emu.setup([WEATHER])
    emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "slow"})
    slow = {"thread_id": tid, "assistant_id": aid, "metadata": {"emulator_pace_ms": "40"}}
    run = emu.ok(emu.post("/threads/run/create", slow))
    busy = emu.post("/threads/run/create", {"thread_id": tid, "assistant_id": aid})
    assert busy["base_resp"]["status_code"] == 2013 and "active run" in busy["base_resp"]["status_msg"]
    r = emu.stream_raw(emu.stream_body(aid, tid, "me too"))
    assert (
        r.headers["content-type"] == "application/json"
        and "active run" in r.json()["base_resp"]["status_msg"]
    )
    assert emu.wait_run(tid, run["id"], {"in_progress"})["status"] == "in_progress"
    assert (
        emu.ok(emu.post("/threads/run/cancel", {"thread_id": tid, "run_id": run["id"]}))["run"]["status"]
        == "cancelled"
    )
    time.sleep(0.1)
    assert emu.get("/threads/run/retrieve", thread_id=tid, run_id=run["id"])["status"] == "cancelled"

    frames = emu.stream(aid, tid, "call get_weather for Rome")  # requires_action also blocks the thread
    assert frames[-1]["data"]["status"] == "requires_action"
    assert "active run" in emu.stream_raw(emu.stream_body(aid, tid, "x")).json()["base_resp"]["status_msg"]
    emu.ok(emu.post("/threads/run/cancel", {"thread_id": tid, "run_id": frames[-1]["data"]["id"]}))
    assert emu.stream(aid, tid, "free again")[-1]["data"]["status"] == "completed"


def test_client_disconnect_leaves_the_run_running(emu: Any) -> None:
    aid, tid = emu.setup()
    body = emu.stream_body(aid, tid, "bye", metadata={"emulator_pace_ms": "10"})
    with emu.client.stream("POST", "/threads/run/create_stream", json=body) as r:
        lines = r.iter_lines()
        first = orjson.loads(next(lines)[6:])
    assert emu.wait_run(tid, first["data"]["id"], {"completed"})["status"] == "completed"
    assert emu.get("/threads/messages/list", thread_id=tid)["data"][0]["content"][0]["text"][
        "value"
    ] == text_reply("bye")


@pytest.mark.asyncio
async def test_many_concurrent_streams(serve: Any, helpers: Any) -> None:
    e = serve(pace_ms=10)
    aid = e.assistant()
    threads = [e.thread() for _ in range(20)]
    async with httpx.AsyncClient(
        base_url=f"{e.url}/v1", headers={"Authorization": "Bearer k"}, timeout=10
    ) as client:

        async def one(tid: str, i: int) -> str:
            body = e.stream_body(aid, tid, f"user {i}")
            r = await client.post("/threads/run/create_stream", json=body)
            return "".join(helpers.ai([orjson.loads(p) for p in helpers.parse(r.content)]))

        started = time.monotonic()
        texts = await asyncio.gather(*(one(tid, i) for i, tid in enumerate(threads)))
        elapsed = time.monotonic() - started
    assert texts == [text_reply(f"user {i}") for i in range(20)]
    assert elapsed < 2.5  # one stream takes ~0.3 s at this pace; 20 in series would take ~6 s
