"""Objects around runs in the engine: a deleted thread takes its messages, runs and steps with it,
messages are modified and deleted, and another tenant sees none of it (404s, empty lists)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.engine.helpers_lifecycle import MODEL, WEATHER, Stack, stack, wait_status
from tests.stream_checks import check, parse_sse


def _made(s: Stack, http: httpx.Client) -> dict[str, str]:
    """An assistant, a thread, its user message, a completed run with its reply and step."""
    aid = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER]}).json()["id"]
    thread = http.post("/threads", json={"messages": [{"role": "user", "content": "keep this"}]}).json()
    tid = thread["id"]
    rid = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()["id"]
    assert wait_status(http, tid, rid, "completed", "failed") == "completed"
    messages = http.get(f"/threads/{tid}/messages", params={"order": "asc"}).json()["data"]
    (step,) = http.get(f"/threads/{tid}/runs/{rid}/steps").json()["data"]
    return {
        "assistant": aid,
        "thread": tid,
        "message": messages[0]["id"],
        "reply": messages[1]["id"],
        "run": rid,
        "step": step["id"],
    }


def _not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, (response.request.url, response.text)
    assert response.json()["error"]["type"] == "invalid_request_error"


def _rows(db: Path, table: str, thread_id: str) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        count: int = conn.execute(
            f"SELECT count(*) FROM {table} WHERE thread_id = ?", (thread_id,)
        ).fetchone()[0]
    return count


def test_thread_delete_removes_its_messages_runs_and_steps(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http("k-delete") as http:
        ids = _made(s, http)
        tid, rid = ids["thread"], ids["run"]
        assert all(_rows(s.db, table, tid) > 0 for table in ("messages", "runs", "run_steps"))
        deleted = http.delete(f"/threads/{tid}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"id": tid, "object": "thread.deleted", "deleted": True}
        _not_found(http.get(f"/threads/{tid}"))
        for mid in (ids["message"], ids["reply"]):
            _not_found(http.get(f"/threads/{tid}/messages/{mid}"))
        _not_found(http.get(f"/threads/{tid}/runs/{rid}"))
        _not_found(http.get(f"/threads/{tid}/runs/{rid}/steps/{ids['step']}"))
        _not_found(http.get(f"/threads/{tid}/messages"))
        _not_found(http.get(f"/threads/{tid}/runs"))
        _not_found(http.delete(f"/threads/{tid}"))
        assert [_rows(s.db, table, tid) for table in ("messages", "runs", "run_steps")] == [0, 0, 0]
        assert http.get(f"/assistants/{ids['assistant']}").status_code == 200


def test_message_modify_and_delete(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http("k-message") as http:
        ids = _made(s, http)
        tid, mid = ids["thread"], ids["message"]
        path = f"/threads/{tid}/messages/{mid}"
        before = http.get(path).json()
        modified = http.post(path, json={"metadata": {"topic": "weather", "n": "1"}})
        assert modified.status_code == 200, modified.text
        assert modified.json() == {**before, "metadata": {"topic": "weather", "n": "1"}}
        assert http.get(path).json()["metadata"] == {"topic": "weather", "n": "1"}

        deleted = http.delete(path)
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"id": mid, "object": "thread.message.deleted", "deleted": True}
        _not_found(http.get(path))
        _not_found(http.delete(path))
        listed = http.get(f"/threads/{tid}/messages").json()["data"]
        assert [m["id"] for m in listed] == [ids["reply"]]


def test_another_tenant_sees_nothing(tmp_path: Path) -> None:
    with stack(tmp_path) as s, s.http("k-owner") as owner, s.http("k-stranger") as stranger:
        ids = _made(s, owner)
        aid, tid, rid = ids["assistant"], ids["thread"], ids["run"]
        objects = [
            f"/assistants/{aid}",
            f"/threads/{tid}",
            f"/threads/{tid}/messages/{ids['message']}",
            f"/threads/{tid}/messages/{ids['reply']}",
            f"/threads/{tid}/runs/{rid}",
            f"/threads/{tid}/runs/{rid}/steps/{ids['step']}",
        ]
        snapshot = {path: owner.get(path).json() for path in objects}
        for path in objects:
            _not_found(stranger.get(path))
        for path in (f"/threads/{tid}/messages", f"/threads/{tid}/runs", f"/threads/{tid}/runs/{rid}/steps"):
            _not_found(stranger.get(path))
        listed: dict[str, Any] = stranger.get("/assistants").json()
        assert listed["data"] == [] and listed["first_id"] is None

        writes = [
            stranger.post(f"/assistants/{aid}", json={"name": "mine"}),
            stranger.post(f"/threads/{tid}", json={"metadata": {"x": "y"}}),
            stranger.post(f"/threads/{tid}/messages", json={"role": "user", "content": "hi"}),
            stranger.post(f"/threads/{tid}/messages/{ids['message']}", json={"metadata": {"x": "y"}}),
            stranger.post(f"/threads/{tid}/runs", json={"assistant_id": aid}),
            stranger.post(f"/threads/{tid}/runs/{rid}", json={"metadata": {"x": "y"}}),
            stranger.post(f"/threads/{tid}/runs/{rid}/cancel"),
            stranger.delete(f"/threads/{tid}/messages/{ids['message']}"),
            stranger.delete(f"/threads/{tid}"),
            stranger.delete(f"/assistants/{aid}"),
        ]
        for response in writes:
            _not_found(response)
        # The stranger's own thread cannot run the owner's assistant either.
        own = stranger.post("/threads", json={}).json()["id"]
        _not_found(stranger.post(f"/threads/{own}/runs", json={"assistant_id": aid}))
        _not_found(stranger.post("/threads/runs", json={"assistant_id": aid}))
        assert {path: owner.get(path).json() for path in objects} == snapshot
        assert [a["id"] for a in owner.get("/assistants").json()["data"]] == [aid]
        _not_found(owner.get(f"/threads/{own}"))


def _threads(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as conn:
        count: int = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
    return count


def test_create_thread_and_run_refused_leaves_no_thread(tmp_path: Path) -> None:
    """The thread of a create-thread-and-run is made with its run: a request refused on its checks
    leaves none behind; one accepted makes exactly one, with its metadata and messages."""
    with stack(tmp_path) as s, s.http("k-refused") as http:
        aid = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER]}).json()["id"]
        thread = {"messages": [{"role": "user", "content": "hi"}], "metadata": {"k": "v"}}
        before = _threads(s.db)
        refused = http.post(
            "/threads/runs",
            json={"assistant_id": aid, "thread": thread, "tool_choice": {"type": "file_search"}},
        )
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "tool_choice", refused.text
        _not_found(http.post("/threads/runs", json={"assistant_id": "asst_missing", "thread": thread}))
        assert _threads(s.db) == before
        made = http.post("/threads/runs", json={"assistant_id": aid, "thread": thread})
        assert made.status_code == 200, made.text
        tid = made.json()["thread_id"]
        assert _threads(s.db) == before + 1
        assert http.get(f"/threads/{tid}").json()["metadata"] == {"k": "v"}
        assert wait_status(http, tid, made.json()["id"], "completed", "failed") == "completed"
        texts = [
            m["content"][0]["text"]["value"]
            for m in http.get(f"/threads/{tid}/messages?order=asc").json()["data"]
        ]
        assert texts[0] == "hi" and len(texts) == 2


def test_create_thread_and_run_streams_the_thread_it_stored(tmp_path: Path) -> None:
    """The thread made in the run's own write: `thread.created` opens the stream, ahead of the run,
    and is the thread as stored, with its messages."""
    with stack(tmp_path) as s, s.http("k-streamed") as http:
        aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
        thread = {"messages": [{"role": "user", "content": "first"}], "metadata": {"k": "v"}}
        body = {"assistant_id": aid, "thread": thread, "stream": True}
        streamed = http.post("/threads/runs", json=body)
        assert streamed.status_code == 200, streamed.text
        events = parse_sse(streamed.content)
        check(events)
        (name, made), (_, run) = events[0], events[1]
        assert (name, made["object"]) == ("thread.created", "thread")
        assert made == http.get(f"/threads/{made['id']}").json()
        assert run["thread_id"] == made["id"] and made["metadata"] == {"k": "v"}
        listed = http.get(f"/threads/{made['id']}/messages", params={"order": "asc"}).json()["data"]
        assert [m["role"] for m in listed] == ["user", "assistant"]
        assert listed[0]["content"][0]["text"]["value"] == "first"
