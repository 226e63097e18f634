"""Any replica serves any call: two engine processes on one PostgreSQL database, one emulator."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.emulator.replies import text_reply, tool_result_reply
from tests.replicas.conftest import LEASE_SECONDS, SWEEP_INTERVAL, Cluster
from tests.replicas.helpers import AUTH, WEATHER, sdk, stream_run, wait_for_reply, wait_for_run
from tests.sdk_messages import first_text
from tests.stream_checks import check, parse_sse


def test_objects_made_on_one_replica_are_served_by_the_other(cluster: Cluster) -> None:
    a, b = sdk(cluster.a.url), sdk(cluster.b.url)
    assistant = a.beta.assistants.create(model="MiniMax-M2.7", name="shared")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "Hello replicas"}])
    assert b.beta.assistants.retrieve(assistant.id).name == "shared"
    run = b.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed"
    texts = [first_text(m) for m in a.beta.threads.messages.list(thread.id, order="asc")]
    assert texts == ["Hello replicas", text_reply("Hello replicas")]


def test_a_tool_run_streamed_on_a_continues_when_outputs_land_on_b(cluster: Cluster) -> None:
    a = sdk(cluster.a.url)
    assistant = a.beta.assistants.create(model="MiniMax-M2.7", tools=[WEATHER])  # type: ignore[list-item]
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "Call get_weather for Lima"}])
    first = check(stream_run(cluster.a.url, thread.id, assistant.id)).final_run
    assert first is not None and first["status"] == "requires_action"
    (call,) = first["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"location": "Lima"}
    with httpx.Client(timeout=60) as http:
        response = http.post(
            f"{cluster.b.url}/threads/{thread.id}/runs/{first['id']}/submit_tool_outputs",
            headers=AUTH,
            json={"tool_outputs": [{"tool_call_id": call["id"], "output": "foggy"}], "stream": True},
        )
    events = parse_sse(response.content)
    names = [name for name, _ in events]
    assert names[:3] == ["thread.run.queued", "thread.run.in_progress", "thread.run.step.completed"]
    assert names[-1] == "thread.run.completed" and events[-1][1]["id"] == first["id"]
    deltas = "".join(
        d["delta"]["content"][0]["text"]["value"] for n, d in events if n == "thread.message.delta"
    )
    assert deltas == tool_result_reply("get_weather", "foggy")


def test_cancel_on_b_ends_the_stream_on_a_within_a_second(cluster: Cluster) -> None:
    a = sdk(cluster.a.url)
    assistant = a.beta.assistants.create(model="MiniMax-M2.7")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "Talk slowly [[fault:pace:100]]"}])
    seen: list[tuple[str, dict[str, Any]]] = []
    ended = threading.Event()
    ended_at: list[float] = []

    def follow() -> None:
        seen.extend(stream_run(cluster.a.url, thread.id, assistant.id))
        ended_at.append(time.monotonic())
        ended.set()

    threading.Thread(target=follow, daemon=True).start()
    run_id = wait_for_run(cluster.b.url, thread.id, "in_progress")
    wait_for_reply(cluster.b.url, thread.id)  # the thinking is over: text is streaming
    asked = time.monotonic()
    cancelled = sdk(cluster.b.url).beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert ended.wait(5), "the stream on A did not end"
    assert ended_at[0] - asked < 1.0, f"A's stream ended {ended_at[0] - asked:.2f} s after the cancel"
    assert cancelled.status in ("cancelling", "cancelled")
    transcript = check(seen)
    assert transcript.final_run is not None and transcript.final_run["status"] == "cancelled"
    final = sdk(cluster.b.url).beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert final.status == "cancelled"
    (reply,) = [m for m in a.beta.threads.messages.list(thread.id) if m.role == "assistant"]
    assert reply.status == "incomplete" and reply.incomplete_details is not None
    assert reply.incomplete_details.reason == "run_cancelled"
    assert text_reply("Talk slowly").startswith(first_text(reply))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not any(
        end == "client_closed" for _, end in cluster.emulator.chat_stream_ends
    ):
        time.sleep(0.05)
    assert [end for _, end in cluster.emulator.chat_stream_ends] == ["client_closed"]


def test_a_run_polled_on_b_shows_what_a_is_streaming(cluster: Cluster) -> None:
    a = sdk(cluster.a.url)
    assistant = a.beta.assistants.create(model="MiniMax-M2.7")
    thread = a.beta.threads.create(
        messages=[{"role": "user", "content": "Slow and steady [[fault:pace:60]]"}]
    )
    done = threading.Thread(target=stream_run, args=(cluster.a.url, thread.id, assistant.id), daemon=True)
    done.start()
    b = sdk(cluster.b.url)
    prefixes: list[str] = []
    while done.is_alive():
        replies = [m for m in b.beta.threads.messages.list(thread.id) if m.role == "assistant"]
        if replies and replies[0].content:
            prefixes.append(first_text(replies[0]))
        time.sleep(0.1)
    final = text_reply("Slow and steady")
    growing = [p for p in prefixes if p and p != final]
    assert len(set(growing)) >= 2, f"B never saw A's reply grow: {prefixes!r}"
    assert all(final.startswith(p) for p in prefixes)


def test_concurrent_run_creation_on_one_thread_from_both_replicas_has_one_winner(cluster: Cluster) -> None:
    a = sdk(cluster.a.url)
    assistant = a.beta.assistants.create(model="MiniMax-M2.7")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "Only once [[fault:pace:50]]"}])
    urls = [cluster.a.url, cluster.b.url] * 6

    def create(url: str) -> int:
        with httpx.Client(timeout=30) as http:
            return http.post(
                f"{url}/threads/{thread.id}/runs", headers=AUTH, json={"assistant_id": assistant.id}
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        codes = list(pool.map(create, urls))
    assert sorted(codes) == [200] + [400] * (len(urls) - 1), codes
    assert len(a.beta.threads.runs.list(thread.id).data) == 1


def test_a_killed_replicas_run_ends_failed_within_the_lease(cluster: Cluster, tmp_path: Path) -> None:
    a = sdk(cluster.a.url)
    assistant = a.beta.assistants.create(model="MiniMax-M2.7")
    thread = a.beta.threads.create(
        messages=[{"role": "user", "content": "Never finishes [[fault:pace:100]]"}]
    )
    run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    wait_for_run(cluster.b.url, thread.id, "in_progress")
    wait_for_reply(cluster.b.url, thread.id)
    cluster.a.kill()
    killed = time.monotonic()
    b = sdk(cluster.b.url)
    while (status := b.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status) == "in_progress":
        assert time.monotonic() - killed < 10, "the orphaned run stayed in_progress"
        time.sleep(0.05)
    took = time.monotonic() - killed
    print(
        f"SIGKILL -> run {status} in {took:.2f} s (lease {LEASE_SECONDS} s, sweep every {SWEEP_INTERVAL} s)"
    )
    final = b.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert (
        final.status == "failed" and final.last_error is not None and final.last_error.code == "server_error"
    )
    assert took < LEASE_SECONDS + 3 * SWEEP_INTERVAL + 1.0
    steps = b.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.status for s in steps] == ["failed"]
    (reply,) = [m for m in b.beta.threads.messages.list(thread.id) if m.role == "assistant"]
    assert reply.status == "incomplete"
