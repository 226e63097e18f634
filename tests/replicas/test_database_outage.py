"""A PostgreSQL outage: readiness fails while it lasts, a run in flight ends clearly (never stays
in_progress), and both replicas serve again afterwards without a restart."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from gateway.emulator.replies import text_reply
from tests.replicas.conftest import Cluster
from tests.replicas.helpers import sdk, stream_run, wait_for_reply, wait_for_run
from tests.sdk_messages import first_text
from tests.stream_checks import check

TERMINAL = {"completed", "failed", "cancelled", "incomplete", "expired"}


def ready(url: str) -> int:
    return httpx.get(url.removesuffix("/v1") + "/readyz", timeout=2).status_code


def wait_until(predicate: Any, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < seconds, f"{what} not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_the_gateway_rides_out_a_database_restart(cluster: Cluster) -> None:
    client = sdk(cluster.a.url)
    assistant = client.beta.assistants.create(model="MiniMax-M2.7")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Outage [[fault:pace:60]]"}])
    seen: list[tuple[str, dict[str, Any]]] = []
    streaming = threading.Thread(
        target=lambda: seen.extend(stream_run(cluster.a.url, thread.id, assistant.id)), daemon=True
    )
    streaming.start()
    run_id = wait_for_run(cluster.b.url, thread.id, "in_progress")
    wait_for_reply(cluster.b.url, thread.id)

    cluster.server.stop()
    wait_until(lambda: ready(cluster.a.url) == 503 and ready(cluster.b.url) == 503, 5, "readiness failing")
    cluster.server.start()
    took = wait_until(lambda: ready(cluster.a.url) == 200 and ready(cluster.b.url) == 200, 10, "ready again")
    print(f"ready again {took:.2f} s after the database came back")

    streaming.join(30)
    assert not streaming.is_alive(), "the stream across the outage never ended"
    final = check(seen).final_run
    assert final is not None and final["status"] in TERMINAL
    stored = sdk(cluster.b.url).beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    wait_until(
        lambda: sdk(cluster.b.url).beta.threads.runs.retrieve(run_id, thread_id=thread.id).status in TERMINAL,
        10,
        "the run ended in the store",
    )
    print(f"the run across the outage: stream {final['status']}, stored {stored.status}")

    again = client.beta.threads.create(messages=[{"role": "user", "content": "After the outage"}])
    run = sdk(cluster.b.url).beta.threads.runs.create_and_poll(
        thread_id=again.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(again.id).data[0]
    assert first_text(reply) == text_reply("After the outage")
