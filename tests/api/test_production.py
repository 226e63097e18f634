"""Production behaviour over real HTTP: keys in both modes (and never in logs), keep-alive pings,
the stream limit, metrics, request ids, body limit, CORS, readiness and connect retries."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.model import text_reply
from gateway.serve import ServerThread
from gateway.settings import Settings, hash_key
from tests.api.test_runs_edge import RUN, body, frame, gateway, start, text
from tests.stream_checks import check, parse_sse

CLIENT_KEY = "gw-client-key-123"
UPSTREAM_KEY = "mm-upstream-secret-456"


@contextmanager
def emulated(emulator: EmulatorConfig | None = None, **settings: Any) -> Iterator[str]:
    with (
        ServerThread(create_emulator_app(emulator or EmulatorConfig())) as up,
        ServerThread(create_app(Settings(backend="assistants", minimax_base_url=up.url, **settings))) as gw,
    ):
        yield gw.url + "/v1"


def stream_text(base: str, key: str, headers: dict[str, str] | None = None) -> str:
    with openai.OpenAI(base_url=base, api_key=key, max_retries=0, default_headers=headers) as client:
        assistant = client.beta.assistants.create(model="abab6.5s-chat")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
            stream.until_done()
            value: str = stream.get_final_messages()[0].content[0].text.value  # type: ignore[union-attr]
    return value


def test_gateway_keys_mode_checks_keys_and_uses_its_own(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with emulated(
        EmulatorConfig(api_key=UPSTREAM_KEY),
        auth_mode="gateway_keys",
        minimax_api_key=UPSTREAM_KEY,
        gateway_key_hashes=[hash_key(CLIENT_KEY)],
    ) as base:
        assert stream_text(base, CLIENT_KEY) == text_reply("hello")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="wrong-key-789", max_retries=0).beta.assistants.list()
        with pytest.raises(openai.AuthenticationError):  # the upstream key itself is not a gateway key
            openai.OpenAI(base_url=base, api_key=UPSTREAM_KEY, max_retries=0).beta.assistants.list()
    logged = caplog.text + "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "gateway.access" in logged  # the access lines were captured...
    for secret in (CLIENT_KEY, UPSTREAM_KEY, "wrong-key-789"):
        assert secret not in logged  # ...and no key text is in them


def test_passthrough_mode_sends_the_client_key_and_group_upstream() -> None:
    with emulated(EmulatorConfig(api_key=CLIENT_KEY, group_id="group-1")) as base:
        assert stream_text(base, CLIENT_KEY, {"X-MiniMax-Group-Id": "group-1"}) == text_reply("hello")
        with pytest.raises(openai.AuthenticationError):
            stream_text(base, "not-the-minimax-key")
        with pytest.raises(openai.AuthenticationError):  # MiniMax: 1004 token not match group
            stream_text(base, CLIENT_KEY, {"X-MiniMax-Group-Id": "group-2"})


def test_own_key_mode_uses_the_configured_key_for_any_client() -> None:
    with emulated(
        EmulatorConfig(api_key=UPSTREAM_KEY), minimax_api_key=UPSTREAM_KEY
    ) as base:  # auto -> own_key
        assert stream_text(base, "whatever-the-sdk-sends") == text_reply("hello")


def test_passthrough_is_the_default_without_a_key_of_its_own() -> None:
    with emulated(EmulatorConfig(api_key=UPSTREAM_KEY)) as base, pytest.raises(openai.AuthenticationError):
        stream_text(base, "whatever-the-sdk-sends")


def test_keepalive_pings_hold_a_stalled_stream_open() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("Hel"))
        await anyio.sleep(1.2)  # a slow first token, longer than a proxy's idle timeout would allow
        await body(send, text("lo"), more=False)

    with gateway(script, keepalive_interval=0.2, idle_timeout=5) as base:
        response = httpx.post(
            f"{base}/threads/t/runs",
            json={"assistant_id": "a", "stream": True},
            headers={"Authorization": "Bearer k"},
            timeout=10,
        )
    pings = response.text.count(": ping\n\n")
    assert pings >= 3, response.text
    assert check(parse_sse(response.content)).texts == {"msg_1": "Hello"}


def test_stream_limit_answers_503_with_retry_after() -> None:
    release = threading.Event()
    calls = 0

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal calls
        calls += 1
        await start(send)
        await body(send, frame(RUN))
        while not release.is_set():
            await anyio.sleep(0.02)
        await body(send, b"", more=False)

    async def scenario(base: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10, headers={"Authorization": "Bearer k"}) as http:
            body_ = {"assistant_id": "a", "stream": True}
            holders = [http.stream("POST", f"{base}/threads/t/runs", json=body_) for _ in range(2)]
            opened = [await h.__aenter__() for h in holders]
            assert [r.status_code for r in opened] == [200, 200]
            third = await http.post(f"{base}/threads/t/runs", json=body_)
            release.set()
            for h in holders:
                await h.__aexit__(None, None, None)
            return third.status_code, dict(third.headers), third.json()

    with gateway(script, max_streams=2) as base:
        status, headers, error = asyncio.run(scenario(base))
    assert status == 503 and headers["retry-after"] == "1"
    assert error["error"]["code"] == "overloaded"
    assert calls == 2  # the refused stream never reached MiniMax
    assert "x-should-retry" not in headers  # so the SDKs may retry it


def metric(text_: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text_.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


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


def test_request_id_is_kept_returned_and_sent_upstream() -> None:
    seen: list[str] = []

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"]).get(b"x-request-id", b"").decode())
        await start(send)
        await body(send, frame(RUN) + text("x"), more=False)

    with gateway(script) as base:
        given = httpx.post(
            f"{base}/threads/t/runs",
            json={"assistant_id": "a", "stream": True},
            headers={"Authorization": "Bearer k", "X-Request-ID": "req-abc"},
        )
        made = httpx.post(
            f"{base}/threads/t/runs",
            json={"assistant_id": "a", "stream": True},
            headers={"Authorization": "Bearer k"},
        )
    assert given.headers["x-request-id"] == "req-abc" and seen[0] == "req-abc"
    assert len(made.headers["x-request-id"]) == 32 and seen[1] == made.headers["x-request-id"]


def test_body_limit_is_413_with_or_without_content_length() -> None:
    with emulated(max_body_bytes=200) as base:
        big = {"model": "abab6.5s-chat", "instructions": "x" * 500}
        sized = httpx.post(f"{base}/assistants", json=big, headers={"Authorization": "Bearer k"})
        streamed = httpx.post(
            f"{base}/assistants",
            content=iter([json.dumps(big).encode()]),
            headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
        )
    for response in (sized, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_cors_preflight_for_configured_origins() -> None:
    with emulated(cors_origins=["https://app.example"]) as base:
        allowed = httpx.options(
            f"{base}/assistants",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        other = httpx.options(
            f"{base}/assistants",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_readiness_follows_the_upstream() -> None:
    with emulated() as base:
        assert httpx.get(base.removesuffix("/v1") + "/readyz").json() == {"status": "ready"}
    down = ServerThread(create_emulator_app())  # bound, not listening: connections are refused
    with ServerThread(create_app(Settings(backend="assistants", minimax_base_url=down.url, upstream_retries=0))) as gw:
        response = httpx.get(gw.url + "/readyz")
        assert response.status_code == 503
        assert httpx.get(gw.url + "/healthz").status_code == 200  # alive, just not ready
    down.stop()


def test_connect_failures_are_retried_until_the_upstream_is_up() -> None:
    upstream = ServerThread(create_emulator_app())  # bound but not yet accepting
    with ServerThread(create_app(Settings(backend="assistants", minimax_base_url=upstream.url, upstream_retries=3))) as gw:
        result: dict[str, Any] = {}

        def call() -> None:
            result["response"] = httpx.post(
                f"{gw.url}/v1/assistants",
                json={"model": "abab6.5s-chat"},
                headers={"Authorization": "Bearer k"},
                timeout=10,
            )

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.05)
        upstream.start()  # comes up while the gateway backs off
        caller.join(10)
    upstream.stop()
    assert result["response"].status_code == 200, result["response"].text


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
