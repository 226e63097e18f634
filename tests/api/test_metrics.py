"""Prometheus metrics over real HTTP: they move when streams run, time the first event from the
request, and count MiniMax's error frames."""

from __future__ import annotations

import gc
from typing import Any

import anyio
import httpx

from tests.api.helpers import emulated, metric, stream_text
from tests.api.scripted import RUN, body, frame, gateway, start, text
from tests.stream_checks import parse_sse


def test_metrics_move_when_streams_run() -> None:
    with emulated() as base:
        root = base.removesuffix("/v1")
        before = httpx.get(f"{root}/metrics").text
        stream_text(base, "k")
        after = httpx.get(f"{root}/metrics").text
    for name in (
        "gateway_upstream_frames_total",
        "gateway_events_total",
        "gateway_time_to_first_event_seconds_count",
        'gateway_upstream_latency_seconds_count{call="threads/run/create_stream"}',
    ):
        assert metric(after, name) > metric(before, name), name
    assert 'route="/v1/threads/{thread_id}/runs",status="200"' in after
    assert metric(after, "gateway_open_streams") == 0
    assert metric(after, "gateway_draining") == 0


def test_the_collectors_pauses_are_served_while_the_app_runs() -> None:
    installed = len(gc.callbacks)
    with emulated() as base:
        root = base.removesuffix("/v1")
        before = httpx.get(f"{root}/metrics").text
        assert len(gc.callbacks) == installed + 1
        gc.collect(2)  # this process is the gateway's: its timer sees the collection
        after = httpx.get(f"{root}/metrics").text
    assert len(gc.callbacks) == installed  # the app's timer left with it
    full = 'gateway_gc_pause_seconds_count{generation="2"}'
    assert metric(after, full) >= metric(before, full) + 1
    assert metric(after, 'gateway_gc_pause_seconds_sum{generation="2"}') > 0
    everything = 'gateway_gc_pause_seconds_bucket{generation="2",le="+Inf"}'
    assert metric(after, everything) == metric(after, full)


def test_first_event_time_includes_the_upstream_wait_and_error_frames_count() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await anyio.sleep(0.3)  # MiniMax is slow to start the stream
        await start(send)
        await body(send, frame(RUN) + text("Hel"))
        await body(send, b'data: {"base_resp": {"status_code": 1002, "status_msg": "rate"}}\n\n', more=False)

    with gateway(script) as base:
        response = httpx.post(
            f"{base}/threads/t/runs",
            json={"assistant_id": "a", "stream": True},
            headers={"Authorization": "Bearer k"},
            timeout=10,
        )
        scraped = httpx.get(base.removesuffix("/v1") + "/metrics").text
    assert parse_sse(response.content)[-1][0] == "thread.run.failed"
    assert metric(scraped, "gateway_time_to_first_event_seconds_sum") >= 0.3
    assert metric(scraped, 'gateway_upstream_errors_total{code="1002"}') == 1
