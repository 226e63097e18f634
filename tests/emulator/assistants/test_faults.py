"""Per-request faults (metadata `emulator_fault`, `emulator_pace_ms`) over real HTTP."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import httpx
import orjson
import pytest

from gateway.emulator import text_reply


def fault(spec: str) -> dict[str, Any]:
    return {"metadata": {"emulator_fault": spec}}


def test_error_frame_then_clean_end(emu: Any, helpers: Any) -> None:
    aid, tid = emu.setup()
    r = emu.stream_raw(emu.stream_body(aid, tid, "hi", **fault("error_frame:3")))
    frames = [orjson.loads(p) for p in helpers.parse(r.content)]  # parse_sse: clean, complete events
    assert len(frames) == 4 and all("data" in f and f["base_resp"] == {} for f in frames[:3])
    assert frames[3] == {"base_resp": {"status_code": 1000, "status_msg": "unknown error"}}
    run = emu.ok(emu.get("/threads/run/retrieve", thread_id=tid, run_id=frames[0]["data"]["id"]))
    assert (
        run["status"] == "failed" and run["last_error"]["message"] == "unknown error" and run["failed_at"] > 0
    )


def test_error_frame_code_in_code_style(serve: Any, helpers: Any) -> None:
    e = serve(base_resp_style="code")
    aid, tid = e.setup()
    frames = [
        orjson.loads(p)
        for p in helpers.parse(
            e.stream_raw(e.stream_body(aid, tid, "x", **fault("error_frame:0:1008"))).content
        )
    ]
    assert frames == [{"base_resp": {"code": 1008, "message": "insufficient balance"}}]


def test_cut_aborts_the_chunked_body_quietly_and_run_goes_on(emu: Any) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record)  # type: ignore[method-assign]
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    aid, tid = emu.setup()
    received = b""
    try:
        with (
            pytest.raises(httpx.RemoteProtocolError),
            emu.client.stream(
                "POST", "/threads/run/create_stream", json=emu.stream_body(aid, tid, "hi", **fault("cut:5"))
            ) as r,
        ):
            for chunk in r.iter_bytes():
                received += chunk
    finally:
        logger.removeHandler(handler)
    assert received.count(b"data: ") == 5 and received.endswith(b"\n\n")
    run_id = orjson.loads(received.split(b"\n\n")[0][6:])["data"]["id"]
    assert emu.wait_run(tid, run_id, {"completed"})["status"] == "completed"
    assert not [r for r in records if r.exc_info], "a deliberate cut must not log a traceback"


def test_cut_after_the_last_frame_still_breaks_the_body(emu: Any) -> None:
    aid, tid = emu.setup()
    n = len(emu.stream(aid, tid, "x"))
    with pytest.raises(httpx.RemoteProtocolError):
        emu.stream_raw(emu.stream_body(aid, tid, "x", **fault(f"cut:{n}")))


@pytest.mark.parametrize(
    ("code", "msg"), [(1008, "insufficient balance"), (1002, "rate limit"), (1026, "input new_sensitive")]
)
def test_error_body_instead_of_stream(emu: Any, code: int, msg: str) -> None:
    aid, tid = emu.setup()
    r = emu.stream_raw(emu.stream_body(aid, tid, "hi", **fault(f"error_body:{code}")))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content.count(b"\n") == 0 and r.json() == {"base_resp": {"status_code": code, "status_msg": msg}}
    assert emu.get("/threads/messages/list", thread_id=tid)["data"] == []  # nothing was created
    assert emu.get("/threads/run/list", thread_id=tid)["data"] == []


@pytest.mark.parametrize(("status", "code"), [(429, 1002), (503, 1000)])
def test_http_status(emu: Any, status: int, code: int) -> None:
    aid, tid = emu.setup()
    r = emu.stream_raw(emu.stream_body(aid, tid, "hi", **fault(f"http_status:{status}")))
    assert r.status_code == status and r.json()["base_resp"]["status_code"] == code
    emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "hi"})
    r = emu.client.post(
        "/threads/run/create", json={"thread_id": tid, "assistant_id": aid, **fault(f"http_status:{status}")}
    )
    assert r.status_code == status


def test_malformed_frame_then_continue(emu: Any, helpers: Any) -> None:
    aid, tid = emu.setup()
    payloads = helpers.parse(emu.stream_raw(emu.stream_body(aid, tid, "hi", **fault("malformed:2"))).content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(payloads[2])
    frames = [orjson.loads(p) for i, p in enumerate(payloads) if i != 2]
    assert [f["data"]["status"] for f in frames[:2]] == ["queued", "in_progress"]
    assert "".join(helpers.ai(frames)) == text_reply("hi") and frames[-1]["data"]["status"] == "completed"


def _arrival_times(emu: Any, body: dict[str, Any]) -> list[float]:
    times: list[float] = []
    with emu.client.stream("POST", "/threads/run/create_stream", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                times.append(time.monotonic())
    return times


def test_stall(emu: Any) -> None:
    aid, tid = emu.setup()
    times = _arrival_times(emu, emu.stream_body(aid, tid, "hi", **fault("stall:2:0.4")))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[1] >= 0.35 and max(gaps[:1] + gaps[2:]) < 0.2


def test_pace_override(emu: Any) -> None:
    aid, tid = emu.setup()
    times = _arrival_times(emu, emu.stream_body(aid, tid, "hi", metadata={"emulator_pace_ms": "15"}))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) > 20 and sorted(gaps)[len(gaps) // 2] >= 0.012


@pytest.mark.parametrize(
    "spec", ["explode:1", "cut", "cut:x", "stall:1", "http_status:200", "error_frame:1:2:3"]
)
def test_bad_fault_spec_is_2013(emu: Any, spec: str) -> None:
    aid, tid = emu.setup()
    r = emu.stream_raw(emu.stream_body(aid, tid, "hi", **fault(spec)))
    assert (
        r.json()["base_resp"]["status_code"] == 2013
        and "emulator_fault" in r.json()["base_resp"]["status_msg"]
    )


def test_non_stream_error_frame_fails_the_run(emu: Any) -> None:
    aid, tid = emu.setup()
    emu.post("/threads/messages/add", {"thread_id": tid, "role": "user", "content": "hi"})
    run = emu.ok(
        emu.post(
            "/threads/run/create", {"thread_id": tid, "assistant_id": aid, **fault("error_frame:4:1024")}
        )
    )
    done = emu.wait_run(tid, run["id"], {"failed", "completed"})
    assert done["status"] == "failed" and done["last_error"] == {
        "code": "server_error",
        "message": "internal error",
    }
