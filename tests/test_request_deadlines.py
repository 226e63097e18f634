"""A half-sent request cannot hold a connection: the head within its deadline (else 408), the body too."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from gateway.app import create_app
from gateway.loopback import ServerThread
from gateway.request_deadlines import deadline_protocol
from gateway.settings import Settings

HEAD, BODY = 0.5, 0.8


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    db = tmp_path_factory.mktemp("protocol") / "gateway.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", minimax_base_url="http://127.0.0.1:9"))
    with ServerThread(app, http=deadline_protocol(HEAD, BODY)) as server:
        yield server.port


def exchange(port: int, sent: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    """What the gateway answers to `sent` (then silence) before it closes, and when it closed."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(sent)
        sock.settimeout(wait)
        started = time.monotonic()
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got, time.monotonic() - started


def test_a_head_sent_too_slowly_gets_408_and_the_connection_closes(port: int) -> None:
    got, took = exchange(port, b"POST /v1/assistants HTTP/1.1\r\nHost: gw\r\nAuthorization: Bea")
    assert got.startswith(b"HTTP/1.1 408 "), got[:80]
    assert b'"code":"request_timeout"' in got
    assert HEAD * 0.8 <= took < HEAD + 1.0


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    got, took = exchange(port, b"")
    assert got.startswith(b"HTTP/1.1 408 ") and took < HEAD + 1.0


def test_a_body_sent_too_slowly_closes_the_connection(port: int) -> None:
    head = (
        b"POST /v1/assistants HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer k\r\nContent-Length: 100\r\n\r\n"
    )
    got, took = exchange(port, head + b'{"model":')
    assert got == b"", got[:80]  # nothing answered: the client is taken as gone
    assert BODY * 0.8 <= took < BODY + 1.0


def test_a_prompt_client_is_served(port: int) -> None:
    body = b'{"model": "MiniMax-M2.7"}'
    request = (
        b"POST /v1/assistants HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer k\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    got, _ = exchange(port, request)
    assert got.startswith(b"HTTP/1.1 200 "), got[:200]
