"""A stream waits a bounded time for MiniMax to start: a quick rejection is an HTTP error, a slow start
gets the stream's headers and a ping at once, and a late rejection ends the stream as a failed run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.emulator import EmulatorConfig
from tests.api.helpers import metric
from tests.e2e.conftest import serve
from tests.stream_checks import check, parse_sse

WAIT = 0.5
KEY = {"Authorization": "Bearer first-event"}


@pytest.fixture(scope="module", params=["assistants", "engine"])
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(
        request.param, EmulatorConfig(), tmp_path_factory.mktemp("first-event"), first_event_wait=WAIT
    )


def run_body(base: str, http: httpx.Client, fault: str) -> dict[str, Any]:
    """A streamed create-and-run whose MiniMax misbehaves as `fault` says, whichever API it speaks:
    the Assistants emulator reads the run's metadata, the chat emulator the user's text."""
    assistant = http.post(f"{base}/assistants", json={"model": "abab6.5s-chat"}, headers=KEY).json()
    chat_fault = fault.replace("error_frame", "error_chunk")
    return {
        "assistant_id": assistant["id"],
        "stream": True,
        "metadata": {"emulator_fault": fault},
        "thread": {"messages": [{"role": "user", "content": f"Hi [[fault:{chat_fault}]]"}]},
    }


def test_a_slow_start_gets_headers_and_a_ping_then_every_event(base: str) -> None:
    with httpx.Client(timeout=30) as http:
        body = run_body(base, http, "stall:0:1.5")
        started = time.monotonic()
        with http.stream("POST", f"{base}/threads/runs", json=body, headers=KEY) as response:
            assert response.status_code == 200
            chunks = response.iter_raw()
            first = next(chunks)
            waited = time.monotonic() - started
            raw = first + b"".join(chunks)
    assert first.startswith(b": ping"), first[:50]
    assert WAIT <= waited < 1.4, f"the first bytes came after {waited:.2f} s"
    events = parse_sse(raw[raw.index(b"\n\n") + 2 :])
    assert check(events).final_run["status"] == "completed"  # type: ignore[index]


def test_the_wait_s_ping_is_not_the_first_event_in_the_metric(base: str) -> None:
    """`gateway_time_to_first_event_seconds` times the stream's first event, not the ping that kept the
    client company while MiniMax was slow to start."""
    metrics = base.removesuffix("/v1") + "/metrics"
    names = ("gateway_time_to_first_event_seconds_sum", "gateway_time_to_first_event_seconds_count")
    with httpx.Client(timeout=30) as http:
        body = run_body(base, http, "stall:0:1.5")
        before = [metric(http.get(metrics).text, name) for name in names]
        response = http.post(f"{base}/threads/runs", json=body, headers=KEY)
        after = [metric(http.get(metrics).text, name) for name in names]
    assert response.status_code == 200 and response.content.startswith(b": ping")
    assert after[1] == before[1] + 1
    assert after[0] - before[0] >= 1.4, after[0] - before[0]  # the stall, not the ping at WAIT


def test_the_metric_times_the_first_event_not_the_streams_end(base: str) -> None:
    """A stream whose first events go out at once and whose MiniMax then stalls: its time to first event
    is the first events' (written in plain calls, `gateway.body_writes`), not the end's."""
    metrics = base.removesuffix("/v1") + "/metrics"
    names = ("gateway_time_to_first_event_seconds_sum", "gateway_time_to_first_event_seconds_count")
    with httpx.Client(timeout=30) as http:
        body = run_body(base, http, "stall:3:1.5")
        before = [metric(http.get(metrics).text, name) for name in names]
        started = time.monotonic()
        response = http.post(f"{base}/threads/runs", json=body, headers=KEY)
        took = time.monotonic() - started
        after = [metric(http.get(metrics).text, name) for name in names]
    assert response.status_code == 200 and b"thread.run.completed" in response.content
    assert took >= 1.4  # the stall was inside the stream
    assert after[1] == before[1] + 1
    assert after[0] - before[0] < 1.0, after[0] - before[0]


def test_a_quick_rejection_is_an_http_error(base: str) -> None:
    with httpx.Client(timeout=30) as http:
        body = run_body(base, http, "error_frame:0:1004")
        body["thread"]["messages"][0]["content"] = "Hi [[fault:error_before:1004]]"
        response = http.post(f"{base}/threads/runs", json=body, headers=KEY)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_rejection_after_the_wait_ends_the_stream_as_a_failed_run(base: str) -> None:
    with httpx.Client(timeout=30) as http:
        body = run_body(base, http, "stall:0:1.5,error_frame:0:1002")
        response = http.post(f"{base}/threads/runs", json=body, headers=KEY)
    assert response.status_code == 200
    raw = response.content
    assert raw.startswith(b": ping")
    events = parse_sse(raw[raw.index(b"\n\n") + 2 :])
    names = [name for name, _ in events]
    assert names[-1] == "thread.run.failed", names
    assert events[-1][1]["last_error"]["code"] == "rate_limit_exceeded"
