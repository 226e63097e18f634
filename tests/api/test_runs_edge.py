"""The run endpoints' edges over real HTTP, against a scripted upstream: every failure is an
OpenAI-shaped error before the stream, or `thread.run.failed` + `done` after it, never a hang."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest

from gateway.app import create_app
from gateway.loopback import ServerThread
from gateway.settings import Settings
from tests.api.scripted import (
    AUTH,
    RUN,
    RUN_BODY,
    assert_error,
    body,
    frame,
    gateway,
    post_run,
    start,
    text,
)
from tests.stream_checks import check, parse_sse


@pytest.mark.parametrize(
    ("script_status", "headers", "status", "code"),
    [
        (429, [(b"retry-after", b"7")], 429, "rate_limit_exceeded"),
        (401, [], 401, "invalid_api_key"),
        (500, [], 502, None),
        (503, [], 502, None),
        (504, [], 504, None),
    ],
)
def test_upstream_http_errors_before_the_stream(
    script_status: int, headers: list[tuple[bytes, bytes]], status: int, code: str | None
) -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, script_status, b"application/json", headers)
        await body(send, b'{"base_resp": {"status_code": 1000, "status_msg": "nope"}}', more=False)

    with gateway(script) as base:
        response = post_run(base)
    assert_error(response, status, code=code)
    if script_status == 429:
        assert response.headers["retry-after"] == "7"
    # MiniMax saw this POST: an SDK retry could start a second run.
    assert response.headers.get("x-should-retry") == ("false" if status >= 500 else None)


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        (1004, "token not match group", 401),
        (2049, "invalid api key", 401),
        (1002, "rate limit", 429),
        (1008, "insufficient balance", 429),
        (2013, "invalid params, thread thread_1 not found", 404),
        (2013, "invalid params, unknown model: gpt-9", 400),
        (1026, "input new_sensitive", 400),
        (1000, "unknown error", 502),
    ],
)
@pytest.mark.parametrize("shape", ["json_body", "first_frame"])
def test_minimax_rejections_map_to_statuses(code: int, message: str, status: int, shape: str) -> None:
    base_resp = {"status_code": code, "status_msg": message}

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if shape == "json_body":
            await start(send, 200, b"application/json")
            await body(send, json.dumps({"base_resp": base_resp}).encode(), more=False)
        else:
            await start(send)
            await body(send, b"data: " + json.dumps({"base_resp": base_resp}).encode() + b"\n\n", more=False)

    with gateway(script) as base:
        error = assert_error(post_run(base), status)
    assert str(code) in error["message"]


def test_unreachable_upstream_is_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ServerThread(
        create_app(Settings(backend="assistants", minimax_base_url=f"http://127.0.0.1:{port}"))
    ) as gw:
        response = post_run(gw.url + "/v1")
    assert_error(response, 502, type="server_error")
    assert "x-should-retry" not in response.headers  # nothing reached MiniMax: a retry is safe


async def until_disconnect(receive: Callable[[], Awaitable[Any]], limit: float = 5) -> None:
    """Stall like a silent MiniMax until the gateway hangs up (or `limit` passes)."""
    with anyio.move_on_after(limit):
        while (await receive())["type"] != "http.disconnect":
            pass


def test_silent_upstream_before_the_stream_is_504() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await until_disconnect(receive)

    with gateway(script, first_byte_timeout=0.3) as base:
        assert_error(post_run(base), 504)


def stream_events(base: str) -> list[tuple[str, dict[str, Any]]]:
    response = post_run(base)
    assert response.status_code == 200
    return parse_sse(response.content)


def test_stall_mid_stream_fails_the_run_after_the_text_so_far() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("Hello"))
        await until_disconnect(receive)

    with gateway(script, idle_timeout=0.3) as base:
        events = stream_events(base)
    transcript = check(events)
    assert transcript.texts == {"msg_1": "Hello"}
    assert events[-1][0] == "thread.run.failed"
    assert events[-1][1]["last_error"]["code"] == "server_error"


def test_connection_cut_mid_stream_fails_the_run() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("Hel"))
        raise RuntimeError("connection cut by the test")  # uvicorn aborts: the chunked body never ends

    with gateway(script) as base:
        events = stream_events(base)
    assert check(events).texts == {"msg_1": "Hel"}
    assert events[-1][0] == "thread.run.failed"


def test_clean_end_without_terminal_frame_completes() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("Hi") + text(" there"), more=False)

    with gateway(script) as base:
        events = stream_events(base)
    assert check(events).texts == {"msg_1": "Hi there"}
    assert events[-1][0] == "thread.run.completed"


def test_a_frame_that_is_not_json_fails_the_run_and_keeps_the_text_before_it() -> None:
    """It may have carried text: the run fails (never reported completed without it); a comment is
    not a frame and is passed over."""

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(
            send, frame(RUN) + b": comment\n\n" + text("ok") + b"data: ping\n\n" + text(" more"), more=False
        )

    with gateway(script) as base:
        events = stream_events(base)
    transcript = check(events)
    assert transcript.texts == {"msg_1": "ok"}
    assert transcript.final_run is not None and transcript.final_run["status"] == "failed"
    assert "cannot be read" in transcript.final_run["last_error"]["message"]


def test_client_disconnect_closes_the_upstream_request() -> None:
    upstream_gone = threading.Event()

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send)
        await body(send, frame(RUN) + text("Hel"))
        while (await receive())["type"] != "http.disconnect":
            pass
        upstream_gone.set()

    with gateway(script) as base, httpx.Client(timeout=10) as http:
        with http.stream("POST", f"{base}/threads/thread_1/runs", json=RUN_BODY, headers=AUTH) as response:
            for line in response.iter_lines():
                if "thread.message.delta" in line:
                    break
        assert upstream_gone.wait(5), "the upstream request stayed open after the client left"


def test_missing_key_is_401_and_nothing_goes_upstream() -> None:
    called = threading.Event()

    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        called.set()

    with gateway(script) as base:
        assert_error(post_run(base, headers={}), 401, code="invalid_api_key")
    assert not called.is_set()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"stream": True}, "assistant_id"),
        ({"assistant_id": "a", "tools": [{"type": "browser"}]}, "tools[0].type"),
        (
            {
                "assistant_id": "a",
                "additional_messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}
                ],
            },
            "additional_messages[0].content[0].type",
        ),
        ({"assistant_id": "a", "metadata": {"k": 1}}, "metadata.k"),
    ],
)
def test_bad_bodies_are_400_naming_the_param(body: dict[str, Any], param: str) -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("a bad request must not reach MiniMax")

    with gateway(script) as base:
        assert_error(post_run(base, body), 400, param=param, type="invalid_request_error")


def test_body_that_is_not_json_is_400() -> None:
    async def script(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("unreachable")

    with gateway(script) as base:
        response = httpx.post(f"{base}/threads/t/runs", content=b"{nope", headers=AUTH)
    assert_error(response, 400)


@contextmanager
def hangs_up_after_reading() -> Iterator[tuple[str, list[bytes]]]:
    """A MiniMax that reads each request whole, then closes the connection without answering:
    the request reached it, so the gateway must not send it again."""
    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                        if k.strip().lower() == b"content-length"
                    ),
                    0,
                )
                while len(rest) < length and (chunk := conn.recv(65536)):
                    rest += chunk
                seen.append(head.split(b"\r\n", 1)[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_minimax_received_is_never_sent_twice(stream: bool) -> None:
    with (
        hangs_up_after_reading() as (url, seen),
        ServerThread(
            create_app(Settings(backend="assistants", minimax_base_url=url, upstream_retries=2))
        ) as gw,
    ):
        response = post_run(gw.url + "/v1", {**RUN_BODY, "stream": stream})
    assert_error(response, 502)
    assert response.headers.get("x-should-retry") == "false"
    assert len(seen) == 1, seen  # one POST: a retry could start a second run on MiniMax
