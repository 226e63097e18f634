"""What survives in the engine: tool calls nobody answered expire by the sweep, a reply outlives the
client that left its stream, and a restarted gateway serves every object of the SQLite file unchanged."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.emulator.replies import text_reply, tool_result_reply
from tests.engine.helpers_lifecycle import (
    MODEL,
    WEATHER,
    StreamReader,
    emulator,
    gateway,
    paced,
    set_expires_at,
    stack,
    wait_for,
    wait_status,
)
from tests.stream_checks import TERMINAL_RUN


def _stored_status(db: Path, run_id: str) -> str:
    with sqlite3.connect(db, timeout=10) as conn:
        status: str = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    return status


def test_requires_action_run_expires_by_the_sweep(tmp_path: Path) -> None:
    with stack(tmp_path, sweep_interval=0.1) as s, s.http("k-expire") as http:
        aid = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER]}).json()["id"]
        message = {"role": "user", "content": "Call get_weather for Oslo"}
        tid = http.post("/threads", json={"messages": [message]}).json()["id"]
        rid = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()["id"]
        wait_status(http, tid, rid, "requires_action")
        run = http.get(f"/threads/{tid}/runs/{rid}").json()
        assert run["created_at"] + 600 <= run["expires_at"] <= run["created_at"] + 600 + 5, run
        call_id = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]

        set_expires_at(s.db, rid, int(time.time()) - 5)
        # Read the file, not the API: the sweep expires the run without anyone asking for it.
        wait_for(lambda: _stored_status(s.db, rid) == "expired", 5)

        run = http.get(f"/threads/{tid}/runs/{rid}").json()
        assert run["status"] == "expired" and run["required_action"] is None
        steps = http.get(f"/threads/{tid}/runs/{rid}/steps").json()["data"]
        assert [(st["type"], st["status"]) for st in steps] == [("tool_calls", "expired")]
        assert steps[0]["expired_at"] is not None
        late = http.post(
            f"/threads/{tid}/runs/{rid}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": call_id, "output": "cold"}]},
        )
        assert late.status_code == 400, late.text
        assert late.json()["error"]["type"] == "invalid_request_error"
        assert _stored_status(s.db, rid) == "expired"
        added = http.post(f"/threads/{tid}/messages", json={"role": "user", "content": "hello again"})
        assert added.status_code == 200, added.text


@pytest.mark.parametrize(
    ("content", "leave_after"),
    [(paced("keep going", 40), 8), ("keep going [[fault:stall:0:1,pace:3]]", 1)],
    ids=["mid-reply", "before-the-first-chunk"],
)
def test_a_client_leaving_its_stream_does_not_lose_the_reply(
    tmp_path: Path, content: str, leave_after: int
) -> None:
    with stack(tmp_path) as s, s.http("k-leave") as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        index = len(s.emu.ctx.chat_requests)
        body = {
            "assistant_id": aid,
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": content}]},
        }
        reader = StreamReader(s.url + "/threads/runs", "k-leave", body, stop_after=leave_after).start()
        assert reader.thread is not None
        reader.thread.join(15)
        assert not reader.thread.is_alive() and reader.error is None, reader.error
        names = reader.names()
        assert len(names) >= leave_after and not TERMINAL_RUN & set(names), names  # it left mid-run
        run = reader.first("thread.run.created")
        tid, rid = run["thread_id"], run["id"]
        assert run_status_is_active(http, tid, rid)

        assert wait_status(http, tid, rid, "completed", "failed", "cancelled", timeout=20) == "completed"
        messages = http.get(f"/threads/{tid}/messages", params={"run_id": rid}).json()["data"]
        assert [(m["role"], m["status"]) for m in messages] == [("assistant", "completed")]
        assert messages[0]["content"][0]["text"]["value"] == text_reply("keep going")
        assert s.emu.ends_of(index) == ["completed"]


def run_status_is_active(http: httpx.Client, tid: str, rid: str) -> bool:
    return http.get(f"/threads/{tid}/runs/{rid}").json()["status"] in ("queued", "in_progress")


def _snapshot(http: httpx.Client, ids: dict[str, list[str]]) -> dict[str, Any]:
    """Every object and list the tenant can read, as JSON."""
    got: dict[str, Any] = {}

    def read(path: str, **params: Any) -> None:
        response = http.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        got[path + repr(sorted(params.items()))] = response.json()

    for order in ("asc", "desc"):
        read("/assistants", order=order, limit=100)
    for aid in ids["assistants"]:
        read(f"/assistants/{aid}")
    for tid in ids["threads"]:
        read(f"/threads/{tid}")
        for order in ("asc", "desc"):
            read(f"/threads/{tid}/messages", order=order, limit=100)
            read(f"/threads/{tid}/runs", order=order, limit=100)
        for message in got[f"/threads/{tid}/messages" + repr([("limit", 100), ("order", "asc")])]["data"]:
            read(f"/threads/{tid}/messages/{message['id']}")
        for run in got[f"/threads/{tid}/runs" + repr([("limit", 100), ("order", "asc")])]["data"]:
            read(f"/threads/{tid}/runs/{run['id']}")
            read(f"/threads/{tid}/runs/{run['id']}/steps", limit=100)
            for step in got[f"/threads/{tid}/runs/{run['id']}/steps" + repr([("limit", 100)])]["data"]:
                read(f"/threads/{tid}/runs/{run['id']}/steps/{step['id']}")
    return got


def test_a_restarted_gateway_keeps_every_thread(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    key = {"Authorization": "Bearer k-restart"}
    ids: dict[str, list[str]] = {"assistants": [], "threads": []}
    with emulator() as emu:
        with gateway(emu.url, db) as url, httpx.Client(base_url=url, headers=key, timeout=30) as http:
            plain = http.post("/assistants", json={"model": MODEL, "name": "plain", "metadata": {"a": "1"}})
            tools = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER], "instructions": "Be"})
            ids["assistants"] = [plain.json()["id"], tools.json()["id"]]
            for n, aid in enumerate(ids["assistants"]):
                text = "Call get_weather for Rome" if n else "first thread"
                thread = http.post(
                    "/threads",
                    json={"messages": [{"role": "user", "content": text}], "metadata": {"n": str(n)}},
                ).json()
                ids["threads"].append(thread["id"])
                rid = http.post(f"/threads/{thread['id']}/runs", json={"assistant_id": aid}).json()["id"]
                wait_status(http, thread["id"], rid, "completed", "requires_action")
            done, waiting = ids["threads"]
            http.post(f"/threads/{done}/messages", json={"role": "user", "content": "second", "metadata": {}})
            rid = http.post(f"/threads/{done}/runs", json={"assistant_id": ids["assistants"][0]}).json()["id"]
            assert wait_status(http, done, rid, "completed", "failed") == "completed"
            before = _snapshot(http, ids)
        with gateway(emu.url, db) as url, httpx.Client(base_url=url, headers=key, timeout=30) as http:
            after = _snapshot(http, ids)
            assert after == before
            assert len(before) > 20
            # The run left waiting for its tool output goes on in the new gateway.
            (run,) = http.get(f"/threads/{waiting}/runs").json()["data"]
            assert run["status"] == "requires_action"
            call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
            submitted = http.post(
                f"/threads/{waiting}/runs/{run['id']}/submit_tool_outputs",
                json={"tool_outputs": [{"tool_call_id": call["id"], "output": "warm"}]},
            )
            assert submitted.status_code == 200, submitted.text
            assert wait_status(http, waiting, run["id"], "completed", "failed") == "completed"
            latest = http.get(f"/threads/{waiting}/messages", params={"limit": 1}).json()["data"][0]
            assert latest["content"][0]["text"]["value"] == tool_result_reply("get_weather", "warm")
