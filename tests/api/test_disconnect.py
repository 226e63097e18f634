"""A client that leaves while sending its body: one info line, a 499 in the access log and metrics, no
traceback, no 500, nothing written back; the gateway serves the next request as usual."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.emulator.config import EmulatorConfig
from tests.api.helpers import metric
from tests.e2e.conftest import serve


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    """Every record from the gateway's loggers and uvicorn's (which does not propagate to the root)."""
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("gateway", "uvicorn", "uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def leave_mid_body(base: str) -> bytes:
    """Announce 1000 bytes, send 9, close the sending side; return what the gateway wrote back."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5) as sock:
        head = (
            f"POST {url.path}/assistants HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer k\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"model":')
        time.sleep(0.2)  # the route is reading the body when the client goes
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def wait_for(records: Records, name: str, timeout: float = 5.0) -> list[logging.LogRecord]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in records.records if r.name == name]
        if found:
            return found
        time.sleep(0.02)
    return []


@pytest.mark.parametrize("backend", ["assistants", "engine"])
def test_a_client_leaving_mid_body_is_one_info_line_and_a_499(
    records: Records, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with contextmanager(serve)(backend, EmulatorConfig(), tmp_path_factory.mktemp(backend)) as base:
        root = base.removesuffix("/v1")
        assert leave_mid_body(base) == b""  # nothing is written to the gone client
        access = wait_for(records, "gateway.access")
        after = httpx.get(f"{root}/metrics").text
        follow_up = httpx.get(f"{base}/assistants", headers={"Authorization": "Bearer k"})
    assert [getattr(r, "status", None) for r in access][:1] == [499]
    gone = [r for r in records.records if r.getMessage() == "client went away while sending its request"]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO and gone[0].exc_info is None
    loud = [r for r in records.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == [], [(r.name, r.getMessage()) for r in loud]
    assert metric(after, 'gateway_requests_total{method="POST",route="/v1/assistants",status="499"}') == 1
    assert 'status="500"' not in after
    assert follow_up.status_code == 200


@pytest.mark.parametrize("backend", ["assistants", "engine"])
def test_a_streams_access_line_counts_the_bytes_it_wrote(
    records: Records, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A stream's body goes straight to the server, past the middlewares: the access log still counts
    every byte of it, and the response still carries its request id."""
    with contextmanager(serve)(backend, EmulatorConfig(), tmp_path_factory.mktemp(backend)) as base:
        headers = {
            "Authorization": "Bearer sk-bytes",
            "OpenAI-Beta": "assistants=v2",
            "X-Request-Id": "rid-b",
        }
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            assistant = http.post("/assistants", json={"model": "gpt-4o"}).json()  # aliased on both
            body = {
                "assistant_id": assistant["id"],
                "stream": True,
                "thread": {"messages": [{"role": "user", "content": "count my bytes"}]},
            }
            with http.stream("POST", "/threads/runs", json=body) as response:
                streamed = b"".join(response.iter_bytes())
                assert response.headers["x-request-id"] == "rid-b"
        assert streamed.endswith(b"data: [DONE]\n\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [
                r
                for r in records.records
                if r.name == "gateway.access" and getattr(r, "path", None) == "/v1/threads/runs"
            ]
            if lines:
                break
            time.sleep(0.02)
        assert [r.bytes for r in lines] == [len(streamed)]  # type: ignore[attr-defined]
