"""Assistants, threads and messages endpoints over real HTTP: envelope, shapes, lists, errors, auth."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

SUCCESS = {"status_code": 0, "status_msg": "success"}


def hex_id(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{prefix}_[0-9a-f]{{32}}")


def test_assistant_crud_envelope_and_shapes(emu: Any) -> None:
    tools = [{"type": "web_search"}, {"type": "code_interpreter"}]
    body = {"model": "abab5.5-chat", "name": "新闻记者", "instructions": "be brief", "tools": tools}
    created = emu.post("/assistants/create", {**body, "metadata": {"k": "v"}})
    assert created["base_resp"] == SUCCESS
    assert hex_id("asst").fullmatch(created["id"])
    assert created["object"] == "assistant"
    assert created["name"] == "新闻记者" and created["model"] == "abab5.5-chat"
    assert created["tools"] == tools and created["file_ids"] == [] and created["metadata"] == {"k": "v"}
    assert isinstance(created["created_at"], int) and created["created_at"] > 1_600_000_000

    got = emu.get("/assistants/retrieve", assistant_id=created["id"])
    assert got == created

    modified = emu.post(
        "/assistants/modify", {"id": created["id"], "name": "renamed", "model": "abab6.5s-chat"}
    )
    assert modified["base_resp"] == SUCCESS
    assert modified["assistant"]["name"] == "renamed" and modified["assistant"]["model"] == "abab6.5s-chat"
    assert modified["assistant"]["instructions"] == "be brief"  # untouched fields kept

    deleted = emu.post("/assistants/delete", {"assistant_id": created["id"]})
    assert deleted["deleted"] is True and deleted["id"] == created["id"] and deleted["base_resp"] == SUCCESS
    gone = emu.get("/assistants/retrieve", assistant_id=created["id"])
    assert gone["base_resp"]["status_code"] == 2013 and created["id"] in gone["base_resp"]["status_msg"]


def test_assistant_list_pagination(serve: Any) -> None:
    e = serve()
    ids = [e.assistant() for _ in range(3)]
    page = e.ok(e.get("/assistants/list", limit=2))
    assert [a["id"] for a in page["data"]] == [ids[2], ids[1]]  # default order desc
    assert page["has_more"] is True and page["first_id"] == ids[2] and page["last_id"] == ids[1]
    rest = e.ok(e.get("/assistants/list", limit=2, after=page["last_id"]))
    assert [a["id"] for a in rest["data"]] == [ids[0]] and rest["has_more"] is False
    asc = e.ok(e.get("/assistants/list", order="asc"))
    assert [a["id"] for a in asc["data"]] == ids
    before = e.ok(e.get("/assistants/list", order="asc", before=ids[2], limit=1))
    assert [a["id"] for a in before["data"]] == [ids[1]] and before["has_more"] is True
    assert e.get("/assistants/list", after="asst_nope")["base_resp"]["status_code"] == 2013
    assert e.get("/assistants/list", limit=0)["base_resp"]["status_code"] == 2013
    assert e.get("/assistants/list", order="sideways")["base_resp"]["status_code"] == 2013


def test_threads_and_messages(emu: Any) -> None:
    thread = emu.post("/threads/create", {"metadata": {"key1": "value1"}})
    assert thread["base_resp"] == SUCCESS and thread["object"] == "thread"
    assert hex_id("thread").fullmatch(thread["id"]) and thread["metadata"] == {"key1": "value1"}
    tid = thread["id"]
    assert emu.get("/threads/retrieve", thread_id=tid) == thread
    modified = emu.post("/threads/modify", {"id": tid, "metadata": {"key2": "v"}})
    assert modified["thread"]["metadata"] == {"key2": "v"} and modified["base_resp"] == SUCCESS

    texts = ["第一", "second", "third"]
    added = [
        emu.ok(emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": t}))
        for t in texts
    ]
    first = added[0]
    assert hex_id("msg").fullmatch(first["id"]) and first["object"] == "message" and first["role"] == "user"
    assert first["content"] == [{"type": "text", "text": {"value": "第一", "annotations": []}}]
    assert first["assistant_id"] == "" and first["run_id"] == "" and first["thread_id"] == tid

    listed = emu.ok(emu.get("/threads/messages/list", thread_id=tid))
    assert [m["content"][0]["text"]["value"] for m in listed["data"]] == texts[::-1]
    assert (
        listed["object"] == "list"
        and listed["first_id"] == added[2]["id"]
        and listed["last_id"] == added[0]["id"]
    )
    assert listed["has_more"] is False
    page = emu.ok(emu.get("/threads/messages/list", thread_id=tid, order="asc", limit=1))
    assert [m["id"] for m in page["data"]] == [added[0]["id"]] and page["has_more"] is True
    got = emu.ok(emu.get("/threads/messages/retrieve", thread_id=tid, message_id=added[1]["id"]))
    assert got["content"][0]["text"]["value"] == "second"


def test_get_endpoints_accept_json_body(emu: Any) -> None:
    tid = emu.thread()
    emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "hello"})
    r = emu.client.request("GET", "/threads/messages/list", content=orjson.dumps({"thread_id": tid}))
    assert r.json()["base_resp"] == SUCCESS and r.json()["data"][0]["content"][0]["text"]["value"] == "hello"


@pytest.mark.parametrize(
    ("method", "path", "body", "needle"),
    [
        ("GET", "/threads/retrieve", {"thread_id": "thread_" + "0" * 32}, "thread_" + "0" * 32),
        ("GET", "/threads/messages/list", {}, "thread_id"),
        ("GET", "/threads/run/retrieve", {"thread_id": "thread_x", "run_id": "run_y"}, "thread_x"),
        ("POST", "/threads/messages/add", {"thread_id": "thread_x", "content": "hi"}, "thread_x"),
        ("POST", "/assistants/create", {"name": "no model"}, "model"),
        ("POST", "/assistants/create", {"model": "abab6-chat", "tools": [{"type": "laser"}]}, "tools[0]"),
    ],
)
def test_bad_params_and_unknown_ids_are_2013(
    emu: Any, method: str, path: str, body: dict[str, Any], needle: str
) -> None:
    r = emu.client.request(
        method, path, params=body if method == "GET" else None, json=None if method == "GET" else body
    )
    assert r.status_code == 200
    resp = r.json()["base_resp"]
    assert (
        resp["status_code"] == 2013
        and resp["status_msg"].startswith("invalid params")
        and needle in resp["status_msg"]
    )


def test_invalid_json_body_is_2013(emu: Any) -> None:
    r = emu.client.post("/threads/create", content=b"{not json")
    assert r.json()["base_resp"]["status_code"] == 2013


def test_unknown_model_rejected_everywhere(emu: Any) -> None:
    bad = "gpt-4o"
    assert (
        emu.post("/assistants/create", {"model": bad})["base_resp"]["status_msg"]
        == f"invalid params, unknown model: {bad}"
    )
    aid, tid = emu.setup()
    assert emu.post("/assistants/modify", {"id": aid, "model": bad})["base_resp"]["status_code"] == 2013
    emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "hi"})
    run = emu.post("/threads/run/create", {"thread_id": tid, "assistant_id": aid, "model": bad})
    assert run["base_resp"]["status_code"] == 2013 and bad in run["base_resp"]["status_msg"]
    r = emu.stream_raw(emu.stream_body(aid, tid, "hi", model=bad))
    assert r.headers["content-type"] == "application/json" and r.json()["base_resp"]["status_code"] == 2013
    for model in ("abab5.5s-chat", "abab6.5-chat", "abab5.5-chat-240131", "abab5.5s-chat-240123"):
        assert emu.post("/assistants/create", {"model": model})["base_resp"] == SUCCESS


def test_auth_rejections(serve: Any) -> None:
    e = serve(api_key="right", group_id="g1")
    assert e.ok(e.post("/threads/create"))
    for headers in (
        {"Authorization": "Bearer wrong"},
        {"Authorization": ""},
        {"Authorization": "Basic right"},
    ):
        r = e.client.post("/threads/create", json={}, headers=headers)
        assert r.status_code == 200 and r.json()["base_resp"]["status_code"] == 1004
        assert "id" not in r.json()
    r = e.client.post("/threads/create", json={}, params={"GroupId": "other"})
    assert r.json()["base_resp"] == {"status_code": 1004, "status_msg": "token not match group"}
    assert e.ok(e.client.post("/threads/create", json={}, params={"GroupId": "g1"}).json())
    body = {"stream": 1, "thread_id": "t", "assistant_id": "a", "messages": []}
    r = e.client.post("/threads/run/create_stream", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.headers["content-type"] == "application/json" and b"\n" not in r.content.strip()
    assert r.json() == {"base_resp": {"status_code": 1004, "status_msg": "not authorized"}}


def test_any_bearer_accepted_without_configured_key(emu: Any) -> None:
    r = emu.client.post("/threads/create", json={}, headers={"Authorization": "Bearer whatever"})
    assert r.json()["base_resp"] == SUCCESS
    r = emu.client.post("/threads/create", json={}, headers={"Authorization": "Bearer"})
    assert r.json()["base_resp"]["status_code"] == 1004
