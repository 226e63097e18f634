"""Cancelling engine runs end to end: a streamed or background run stops at once (its MiniMax request
closed within a second), a run waiting for tool outputs is cancelled in the store, an ended run refuses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.helpers_lifecycle import (
    MODEL,
    WEATHER,
    Stack,
    StreamReader,
    paced,
    run_status,
    stack,
    wait_for,
    wait_status,
)
from tests.stream_checks import check

KEY = "k-cancel"


def _cancel_and_time(s: Stack, http: httpx.Client, tid: str, rid: str, request_index: int) -> float:
    """Cancel from another client; the seconds until MiniMax's request was closed (asserted < 1)."""
    assert s.emu.ends_of(request_index) == [], "the reply ended before the cancel"
    started = time.monotonic()
    with s.http(KEY) as other:
        answer = other.post(f"/threads/{tid}/runs/{rid}/cancel")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] in ("cancelling", "cancelled")
    ends = wait_for(lambda: s.emu.ends_of(request_index), 5, every=0.005)
    closed_after = time.monotonic() - started
    assert ends == ["client_closed"]
    assert closed_after < 1.0, f"MiniMax's request was closed {closed_after:.3f} s after the cancel"
    wait_status(http, tid, rid, "cancelled")
    return closed_after


def _assert_cancelled_with_open_message(http: httpx.Client, tid: str, rid: str, mid: str) -> dict[str, Any]:
    run = http.get(f"/threads/{tid}/runs/{rid}").json()
    assert run["status"] == "cancelled" and run["cancelled_at"] is not None
    assert run["completed_at"] is None and run["failed_at"] is None and run["last_error"] is None
    message: dict[str, Any] = http.get(f"/threads/{tid}/messages/{mid}").json()
    assert message["status"] == "incomplete", message
    assert message["incomplete_details"] == {"reason": "run_cancelled"}
    steps = http.get(f"/threads/{tid}/runs/{rid}/steps").json()["data"]
    assert [(st["type"], st["status"]) for st in steps] == [("message_creation", "cancelled")]
    assert steps[0]["step_details"]["message_creation"]["message_id"] == mid
    again = http.post(f"/threads/{tid}/runs/{rid}/cancel")
    assert again.status_code == 400 and "cancelled" in again.json()["error"]["message"]
    assert http.post(f"/threads/{tid}/messages", json={"role": "user", "content": "next"}).status_code == 200
    return message


def test_cancel_a_streamed_run_from_another_client(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http(KEY) as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        message = {"role": "user", "content": paced("cancel me", 50)}
        tid = http.post("/threads", json={"messages": [message]}).json()["id"]
        index = len(s.emu.ctx.chat_requests)
        body = {"assistant_id": aid, "stream": True}
        reader = StreamReader(f"{s.url}/threads/{tid}/runs", KEY, body).start()
        delta = reader.first("thread.message.delta")
        rid = reader.first("thread.run.created")["id"]
        closed_after = _cancel_and_time(s, http, tid, rid, index)
        print(f"streamed run: MiniMax request closed {closed_after:.3f} s after the cancel call")

        events = reader.join()
        names = [name for name, _ in events]
        assert names[-1] == "thread.run.cancelled", names[-6:]
        transcript = check(events)
        assert [n for n in names if n.startswith("thread.message.")][-1] == "thread.message.incomplete"
        assert "thread.run.step.cancelled" in names
        stored = _assert_cancelled_with_open_message(http, tid, rid, delta["id"])
        streamed = transcript.texts[delta["id"]]
        assert streamed and stored["content"][0]["text"]["value"] == streamed


def test_cancel_a_background_run(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http(KEY) as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        message = {"role": "user", "content": paced("cancel me quietly", 50)}
        tid = http.post("/threads", json={"messages": [message]}).json()["id"]
        index = len(s.emu.ctx.chat_requests)
        rid = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()["id"]

        def reply() -> str | None:
            data = http.get(f"/threads/{tid}/messages", params={"run_id": rid}).json()["data"]
            return data[0]["id"] if data else None

        mid = wait_for(reply)
        assert run_status(http, tid, rid) == "in_progress"
        closed_after = _cancel_and_time(s, http, tid, rid, index)
        print(f"background run: MiniMax request closed {closed_after:.3f} s after the cancel call")
        _assert_cancelled_with_open_message(http, tid, rid, mid)


def test_cancel_requires_action_run_and_refuse_a_completed_one(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http(KEY) as http:
        aid = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER]}).json()["id"]
        message = {"role": "user", "content": "Call get_weather for Paris"}
        tid = http.post("/threads", json={"messages": [message]}).json()["id"]
        rid = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()["id"]
        wait_status(http, tid, rid, "requires_action")
        answer = http.post(f"/threads/{tid}/runs/{rid}/cancel")
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert run["status"] == "cancelled" and run["required_action"] is None
        assert run["cancelled_at"] is not None
        steps = http.get(f"/threads/{tid}/runs/{rid}/steps").json()["data"]
        assert [(st["type"], st["status"]) for st in steps] == [("tool_calls", "cancelled")]
        assert steps[0]["cancelled_at"] is not None
        call_id = steps[0]["step_details"]["tool_calls"][0]["id"]
        late = http.post(
            f"/threads/{tid}/runs/{rid}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": call_id, "output": "sunny"}]},
        )
        assert late.status_code == 400, late.text

        http.post(f"/threads/{tid}/messages", json={"role": "user", "content": "just say hi"})
        done = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()["id"]
        assert wait_status(http, tid, done, "completed", "failed") == "completed"
        refused = http.post(f"/threads/{tid}/runs/{done}/cancel")
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] == "Cannot cancel run with status 'completed'."
        assert run_status(http, tid, done) == "completed"


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "background"])
def test_cancel_before_minimax_sends_its_first_chunk(tmp_path: Path, stream: bool) -> None:
    """The run is leased and MiniMax's request open, but no chunk came yet (a 3 s stall): the cancel
    still closes the request at once and the run ends `cancelled`, never `completed`."""
    with stack(tmp_path) as s, s.http(KEY) as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        message = {"role": "user", "content": "slow start [[fault:stall:0:3]]"}
        tid = http.post("/threads", json={"messages": [message]}).json()["id"]
        index = len(s.emu.ctx.chat_requests)
        body = {"assistant_id": aid, "stream": stream}
        reader = StreamReader(f"{s.url}/threads/{tid}/runs", KEY, body).start() if stream else None
        if reader is None:
            http.post(f"/threads/{tid}/runs", json=body).raise_for_status()
        wait_for(lambda: len(s.emu.ctx.chat_requests) > index and s.emu.ctx.chat_streams_open == 1)
        (run,) = http.get(f"/threads/{tid}/runs").json()["data"]
        rid = run["id"]
        time.sleep(0.2)
        closed_after = _cancel_and_time(s, http, tid, rid, index)
        kind = "streamed" if stream else "background"
        print(f"{kind} run before its first chunk: MiniMax request closed in {closed_after:.3f} s")
        if reader is not None:
            events = reader.join()
            names = [name for name, _ in events]
            assert names[-1] == "thread.run.cancelled", names
            check(events)
        time.sleep(3.5)  # past the stall: nothing may complete the cancelled run
        run = http.get(f"/threads/{tid}/runs/{rid}").json()
        assert run["status"] == "cancelled", run
        messages = http.get(f"/threads/{tid}/messages", params={"run_id": rid}).json()["data"]
        assert all(m["status"] != "completed" for m in messages), messages
