"""The real `python -m gateway` engine process dying under a run: after SIGKILL the next process fails
the run once its lease lapses; after SIGTERM the drain ends the open stream and stores the run failed."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.engine.helpers_lifecycle import (
    MODEL,
    WEATHER,
    StreamReader,
    auth,
    emulator,
    gateway_process,
    paced,
    run_status,
    wait_for,
    wait_status,
)
from tests.stream_checks import check

LEASE, SWEEP = 1.0, 0.2
ENV = {"LEASE_SECONDS": str(LEASE), "SWEEP_INTERVAL": str(SWEEP)}


def _assert_failed_and_nothing_open(http: httpx.Client, tid: str, rid: str, mid: str) -> None:
    run = http.get(f"/threads/{tid}/runs/{rid}").json()
    assert run["status"] == "failed" and run["failed_at"] is not None, run
    assert run["last_error"]["code"] == "server_error", run["last_error"]
    message = http.get(f"/threads/{tid}/messages/{mid}").json()
    assert message["status"] == "incomplete", message
    steps = http.get(f"/threads/{tid}/runs/{rid}/steps").json()["data"]
    assert [(st["type"], st["status"]) for st in steps] == [("message_creation", "failed")]
    runs = http.get(f"/threads/{tid}/runs").json()["data"]
    messages = http.get(f"/threads/{tid}/messages").json()["data"]
    assert all(r["status"] not in ("queued", "in_progress", "cancelling") for r in runs), runs
    assert all(m["status"] != "in_progress" for m in messages), messages
    assert http.post(f"/threads/{tid}/messages", json={"role": "user", "content": "again"}).status_code == 200


def test_sigkill_leaves_a_lease_the_next_process_fails(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    with emulator() as emu:
        index = len(emu.ctx.chat_requests)
        with gateway_process(tmp_path, "first", emu.url, db, **ENV) as first:
            http = httpx.Client(base_url=first.url, headers=auth("k-kill"), timeout=30)
            aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
            message = {"role": "user", "content": paced("outlive me", 100)}
            tid = http.post("/threads", json={"messages": [message]}).json()["id"]
            rid = http.post(f"/threads/{tid}/runs", json={"assistant_id": aid}).json()["id"]
            wait_status(http, tid, rid, "in_progress")
            # A run waiting for tool outputs holds no lease: the process dying must not fail it.
            tools = http.post("/assistants", json={"model": MODEL, "tools": [WEATHER]}).json()["id"]
            ask = {"role": "user", "content": "Call get_weather for Lima"}
            waiting_tid = http.post("/threads", json={"messages": [ask]}).json()["id"]
            waiting = http.post(f"/threads/{waiting_tid}/runs", json={"assistant_id": tools}).json()["id"]
            wait_status(http, waiting_tid, waiting, "requires_action")

            def reply() -> str | None:
                data = http.get(f"/threads/{tid}/messages", params={"run_id": rid}).json()["data"]
                return data[0]["id"] if data else None

            mid = wait_for(reply, 15)  # the reasoning took over a lease: the heartbeat kept the run
            assert run_status(http, tid, rid) == "in_progress"
            http.close()
            first.kill()
            killed = time.monotonic()
        assert wait_for(lambda: emu.ends_of(index), 5) == ["client_closed"]
        with gateway_process(tmp_path, "second", emu.url, db, **ENV) as second:
            ready = time.monotonic() - killed
            with httpx.Client(base_url=second.url, headers=auth("k-kill"), timeout=30) as http:
                assert wait_status(http, tid, rid, "failed", "completed", timeout=15) == "failed"
                elapsed = time.monotonic() - killed
                print(f"SIGKILL -> failed in {elapsed:.2f} s (second process ready after {ready:.2f} s)")
                # Store stamps are whole seconds, so a lease can outlive its time by up to one second.
                assert elapsed <= max(LEASE + 1, ready) + SWEEP + 1.0, (elapsed, ready)
                _assert_failed_and_nothing_open(http, tid, rid, mid)
                time.sleep(LEASE + 2 * SWEEP)
                run = http.get(f"/threads/{waiting_tid}/runs/{waiting}").json()
                assert run["status"] == "requires_action", run
                call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
                submitted = http.post(
                    f"/threads/{waiting_tid}/runs/{waiting}/submit_tool_outputs",
                    json={"tool_outputs": [{"tool_call_id": call["id"], "output": "mild"}]},
                )
                assert submitted.status_code == 200, submitted.text
                assert wait_status(http, waiting_tid, waiting, "completed", "failed") == "completed"
        assert len(emu.ctx.chat_requests) == index + 3, "a run of the dead process was retried"


def test_sigterm_drain_ends_an_engine_stream_and_stores_the_run_failed(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    with emulator() as emu:
        index = len(emu.ctx.chat_requests)
        with gateway_process(tmp_path, "drained", emu.url, db, DRAIN_SECONDS="0.5", **ENV) as first:
            with httpx.Client(base_url=first.url, headers=auth("k-term"), timeout=30) as http:
                aid = http.post("/assistants", json={"model": MODEL}).json()["id"]
            body = {
                "assistant_id": aid,
                "stream": True,
                "thread": {"messages": [{"role": "user", "content": paced("drain me", 100)}]},
            }
            reader = StreamReader(first.url + "/threads/runs", "k-term", body).start()
            delta = reader.first("thread.message.delta")
            first.popen.send_signal(signal.SIGTERM)
            events = reader.join(20)
            exit_code = first.popen.wait(15)
        logged = first.log.read_text()
        assert exit_code == 0, logged
        assert "Traceback" not in logged, logged
        names = [name for name, _ in events]
        assert names[-1] == "thread.run.failed", names[-6:]
        transcript = check(events)
        run = transcript.final_run
        assert run is not None and run["last_error"]["code"] == "server_error"
        assert "shut down" in run["last_error"]["message"]
        assert wait_for(lambda: emu.ends_of(index), 5) == ["client_closed"]

        with (
            gateway_process(tmp_path, "reader", emu.url, db, **ENV) as second,
            httpx.Client(base_url=second.url, headers=auth("k-term"), timeout=30) as http,
        ):
            tid, rid, mid = run["thread_id"], run["id"], delta["id"]
            assert run_status(http, tid, rid) == "failed"
            _assert_failed_and_nothing_open(http, tid, rid, mid)
            stored = http.get(f"/threads/{tid}/messages/{mid}").json()
            assert stored["content"][0]["text"]["value"] == transcript.texts[mid]
