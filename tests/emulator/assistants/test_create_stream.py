"""create_stream over real HTTP: framing, frame order, and every dialect knob of EmulatorConfig."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest

from gateway.emulator import EmulatorConfig, create_emulator_app, text_reply
from gateway.emulator.splitter import cut_offsets, cuts_inside_characters, split_plan

OK_FINAL = {"status_code": 0, "status_msg": "success"}


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    out = []
    for f in frames:
        d = f["data"]
        label = d.get("status") or d.get("role")
        out.append(f"{d['object']}:{label}")
    return out


def test_default_stream_framing_and_order(emu: Any, helpers: Any) -> None:
    aid, tid = emu.setup()
    r = emu.stream_raw(emu.stream_body(aid, tid, "1 + 1 equals:"))
    assert r.headers["content-type"] == "text/event-stream" and r.headers["connection"] == "close"
    raw = r.content
    assert raw.startswith(b"data: {") and raw.endswith(b"}\n\n")
    assert b"event:" not in raw and b"[DONE]" not in raw and b"\r" not in raw
    assert all(chunk.startswith(b"data: {") and b"\n" not in chunk for chunk in raw.split(b"\n\n")[:-1])
    frames = [orjson.loads(p) for p in helpers.parse(raw)]

    reply = text_reply("1 + 1 equals:")
    n = -(-len(reply) // 4)
    expected = ["run:queued", "run:in_progress", "message:user", "run step:in_progress"]
    expected += ["message:ai"] * n + ["run step:completed", "run:completed"]
    assert kinds(frames) == expected
    assert [f["base_resp"] for f in frames] == [{}] * (len(frames) - 1) + [OK_FINAL]

    run = frames[-1]["data"]
    assert re.fullmatch(r"run_[0-9a-f]{32}", run["id"]) and run["object"] == "run"
    assert run["required_action"] == {"type": "", "submit_tool_outputs": None} and run["last_error"] is None
    assert run["started_at"] > 0 and run["completed_at"] >= run["started_at"] and run["cancelled_at"] == 0
    user = frames[2]["data"]
    assert user["content"][0]["text"]["value"] == "1 + 1 equals:" and user["run_id"] == ""
    ai = [f["data"] for f in frames if f["data"].get("role") == "ai"]
    assert len({m["id"] for m in ai}) == 1 and len({m["content"][0]["id"] for m in ai}) == 1
    assert ai[0]["run_id"] == run["id"] and ai[0]["assistant_id"] == aid
    pieces = helpers.ai(frames)
    assert all(len(p) == 4 for p in pieces[:-1]) and "".join(pieces) == reply
    assert any(len(p.encode()) > len(p) for p in pieces)  # multi-byte characters, cut by characters
    step = frames[3]["data"]
    assert step["object"] == "run step" and step["type"] == "message_creation"
    assert step["step_details"]["message_creation"]["message_id"] == ai[0]["id"]

    listed = emu.ok(emu.get("/threads/messages/list", thread_id=tid))["data"]
    assert listed[0]["role"] == "assistant" and listed[0]["content"][0]["text"]["value"] == reply
    assert emu.ok(emu.get("/threads/run/retrieve", thread_id=tid, run_id=run["id"]))["object"] == "thread.run"


@pytest.mark.parametrize("mode", ["incremental", "cumulative", "incremental_final"])
def test_text_modes(serve: Any, helpers: Any, mode: str) -> None:
    e = serve(text_mode=mode, chars_per_frame=3)
    aid, tid = e.setup()
    reply = text_reply("héllo 世界")
    texts = helpers.ai(e.stream(aid, tid, "héllo 世界"))
    n = -(-len(reply) // 3)
    if mode == "incremental":
        assert len(texts) == n and "".join(texts) == reply
    elif mode == "cumulative":
        assert len(texts) == n and texts[-1] == reply
        assert all(b.startswith(a) and len(b) - len(a) <= 3 for a, b in itertools.pairwise(texts))
    else:
        assert len(texts) == n + 1 and "".join(texts[:-1]) == reply and texts[-1] == reply


def test_step_frames_and_echo_off(serve: Any) -> None:
    e = serve(step_frames=False, echo_user=False)
    aid, tid = e.setup()
    frames = e.stream(aid, tid, "hi")
    objs = [f["data"]["object"] for f in frames]
    assert "run step" not in objs
    assert all(f["data"]["role"] == "ai" for f in frames if f["data"]["object"] == "message")
    assert objs[:2] == ["run", "run"] and objs[-1] == "run"
    steps = e.ok(e.get("/threads/run_steps/list", thread_id=tid, run_id=frames[-1]["data"]["id"]))
    assert [s["type"] for s in steps["data"]] == ["message_creation"]  # steps still exist over REST


@pytest.mark.parametrize(
    ("style", "middle", "final"),
    [("code", {"code": 0, "message": ""}, {"code": 0, "message": "success"}), ("empty", {}, {})],
)
def test_base_resp_styles(serve: Any, style: str, middle: dict[str, Any], final: dict[str, Any]) -> None:
    e = serve(base_resp_style=style)
    aid, tid = e.setup()
    frames = e.stream(aid, tid, "hi")
    assert [f["base_resp"] for f in frames[:-1]] == [middle] * (len(frames) - 1)
    assert frames[-1]["base_resp"] == final and frames[-1]["data"]["status"] == "completed"
    assert e.ok(e.post("/threads/create"))  # REST keeps status_code/status_msg in every style


def test_crlf_line_endings(serve: Any, helpers: Any) -> None:
    e = serve(line_ending="\r\n")
    aid, tid = e.setup()
    raw = e.stream_raw(e.stream_body(aid, tid, "hi")).content
    assert raw.endswith(b"}\r\n\r\n") and raw.count(b"\r\n\r\n") == raw.count(b"data: ")
    assert b"\n\n" not in raw.replace(b"\r\n", b"")
    assert orjson.loads(helpers.parse(raw)[-1])["data"]["status"] == "completed"


def test_empty_messages_answers_latest_user_message(emu: Any, helpers: Any) -> None:
    aid, tid = emu.setup()
    emu.ok(emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "from REST"}))
    frames = emu.stream(aid, tid, None)
    assert not [f for f in frames if f["data"].get("role") == "user"]
    assert "".join(helpers.ai(frames)) == text_reply("from REST")
    other = emu.thread()
    r = emu.stream_raw(emu.stream_body(aid, other, None))
    assert (
        r.json()["base_resp"]["status_code"] == 2013
        and "no user message" in r.json()["base_resp"]["status_msg"]
    )


def test_stream_2_audio_input_echoes_transcript(emu: Any, helpers: Any) -> None:
    aid, tid = emu.setup()
    body = {"stream": 2, "assistant_id": aid, "thread_id": tid}
    body["messages"] = [{"type": 2, "role": "user", "content": "你好 audio".encode().hex()}]
    r = emu.stream_raw(body)
    frames = [orjson.loads(p) for p in helpers.parse(r.content)]
    assert frames[2]["data"]["content"][0]["text"]["value"] == "你好 audio"
    assert "".join(helpers.ai(frames)) == text_reply("你好 audio")
    bad = emu.stream_raw({**body, "stream": 3})
    assert bad.json()["base_resp"]["status_code"] == 2013


def _normalise(payload: bytes) -> Any:
    text = re.sub(rb"(asst|thread|msg|run|step|call)_[0-9a-f]{32}", rb"\1_X", payload)
    text = re.sub(rb'"id":"[0-9a-f]{32}"', b'"id":"X"', text)
    text = re.sub(rb'"(\w+_at)":\d+', rb'"\1":0', text)
    return orjson.loads(text)


def test_split_chunking_reassembles_to_the_same_frames(serve: Any, helpers: Any) -> None:
    plain, split = serve(), serve(chunking="split", split_seed=7)
    bodies = []
    for e in (plain, split):
        aid, tid = e.setup()
        bodies.append(e.stream_raw(e.stream_body(aid, tid, "split me 🌍")).content)
    assert [_normalise(p) for p in helpers.parse(bodies[0])] == [
        _normalise(p) for p in helpers.parse(bodies[1])
    ]


def test_split_plan_is_pure_and_cuts_inside_characters() -> None:
    reply = text_reply("x")
    data = b"".join(f"data: {reply[i : i + 4]}\n\n".encode() for i in range(0, len(reply), 4))
    pieces = split_plan(data, seed=3)
    assert b"".join(pieces) == data and pieces == split_plan(data, seed=3)
    assert pieces != split_plan(data, seed=4)
    assert cuts_inside_characters(data, cut_offsets(pieces))
    assert not cuts_inside_characters(
        b"ascii only\n\n" * 20, cut_offsets(split_plan(b"ascii only\n\n" * 20, 3))
    )


@pytest.mark.asyncio
async def test_split_writes_follow_the_plan_at_the_asgi_level() -> None:
    """The app's actual body writes: cut per split_plan, some inside a character, some across frames."""
    app = create_emulator_app(EmulatorConfig(chunking="split", split_seed=11))
    ctx = app.state.emulator
    headers = [(b"authorization", b"Bearer k"), (b"content-type", b"application/json")]

    async def call(path: str, body: dict[str, Any]) -> list[bytes]:
        sent: list[bytes] = []
        request = [{"type": "http.request", "body": orjson.dumps(body), "more_body": False}]
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if request:
                return request.pop()
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                sent.append(message["body"])

        scope: dict[str, Any] = {
            "type": "http",
            "method": "POST",
            "path": f"/v1/{path}",
            "headers": headers,
            "query_string": b"",
        }
        scope["asgi"] = {"version": "3.0", "spec_version": "2.3"}
        await app(scope, receive, send)
        done.set()
        return sent

    aid = orjson.loads((await call("assistants/create", {"model": "abab6-chat"}))[0])["id"]
    tid = orjson.loads((await call("threads/create", {}))[0])["id"]
    body = {
        "stream": 1,
        "assistant_id": aid,
        "thread_id": tid,
        "messages": [{"type": 1, "content": "你好 🌍"}],
    }
    writes = await call("threads/run/create_stream", body)
    data = b"".join(writes)
    assert writes == split_plan(data, seed=11)
    assert cuts_inside_characters(data, cut_offsets(writes))
    assert any(b"\n\ndata: " in w for w in writes)  # a write joining the end of one frame and the next
    assert ctx.store.runs(tid)[0].status == "completed"
