"""Body pieces written to uvicorn in a plain call (`gateway/body_writes.py`), on a real uvicorn server
over loopback: the same bytes on the wire as uvicorn's own `send`; refused (nothing written) while the
transport is paused, after the client left, before the response starts and for a HEAD request; and a
run's event stream, on either backend, writes its reads through it, not through `send`."""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from gateway.body_writes import PlainWrite, plain_writer
from gateway.emulator import EmulatorConfig
from gateway.loopback import ServerThread
from tests.e2e.conftest import serve
from tests.stream_checks import parse_sse

Send = Callable[[dict[str, Any]], Awaitable[None]]
PIECES = [b"data: one\n\n", b"", b"x" * 70_000, b"\xe2\x82\xac\r\n", b"data: last\n\n"]
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}


def body(piece: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": piece, "more_body": more}


class App:
    """Answers every request with PIECES, each through the plain writer when `plain` says so (else
    `send`), then an empty last body message; records what the plain writer returned."""

    def __init__(self, plain: Callable[[int], bool]) -> None:
        self.plain = plain
        self.returned: list[bool | None] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        write = plain_writer(send)
        if write is not None:
            self.returned.append(write(b"before the start"))  # nothing can be written before it
        await send(START)
        for i, piece in enumerate(PIECES):
            if write is None or not self.plain(i):
                await send(body(piece))
            else:
                self.returned.append(write(piece))
        await send(body(b"", more=False))


def fetch(port: int, method: bytes = b"GET") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(method + b" / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got


def wire(plain: Callable[[int], bool], method: bytes = b"GET") -> tuple[bytes, list[bool | None]]:
    app = App(plain)
    with ServerThread(app, http="httptools") as server:
        raw = fetch(server.port, method)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert (b"transfer-encoding: chunked" in head.lower()) == (method != b"HEAD")
    return rest, app.returned


def test_plain_writes_put_on_the_wire_what_send_puts() -> None:
    through_send, none = wire(lambda i: False)
    assert none == [False]  # only the write before the start was tried, and refused
    for plain in (lambda i: True, lambda i: i % 2 == 0):
        mixed, returned = wire(plain)
        assert mixed == through_send
        assert returned[0] is False and all(returned[1:]) and len(returned) > 1
    # the chunked framing, spelled out: every non-empty piece, then the end
    expected = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in PIECES if p) + b"0\r\n\r\n"
    assert through_send == expected


def test_no_plain_writer_for_a_head_request_or_another_servers_send() -> None:
    rest, returned = wire(lambda i: True, method=b"HEAD")
    assert returned == [] and rest == b""  # plain_writer gave None: every piece went through `send`

    async def send(message: dict[str, Any]) -> None:
        pass

    assert plain_writer(send) is None
    assert plain_writer(print) is None


async def started(scope: dict[str, Any], send: Send) -> PlainWrite | None:
    """For an HTTP request: its plain writer, once the response started (None for lifespan events)."""
    if scope["type"] != "http":
        return None
    write = plain_writer(send)
    assert write is not None
    await send(START)
    return write


class Paused:
    """Writes 64 KB pieces through the plain writer to a client that does not read, until the writer
    refuses one; then the rest through `send`, which waits for the client to drain."""

    PIECE = b"p" * 65536

    def __init__(self) -> None:
        self.refused_after: int | None = None
        self.buffer_unchanged = False
        self.total = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if (write := await started(scope, send)) is None:
            return
        transport = send.__self__.transport  # type: ignore[attr-defined]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for i in range(200):  # far beyond the buffers (refused after 2 or 3 here)
            before = transport.get_write_buffer_size()
            if not write(self.PIECE):
                self.refused_after = i
                self.buffer_unchanged = transport.get_write_buffer_size() == before
                break
            self.total += len(self.PIECE)
        for _ in range(4):
            await send(body(self.PIECE))
            self.total += len(self.PIECE)
        await send(body(b"", more=False))


def test_a_paused_transport_refuses_plain_writes_and_send_takes_over_in_order() -> None:
    app = Paused()
    with ServerThread(app, http="httptools") as server, socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        for _ in range(500):  # not reading meanwhile: the server's buffers fill
            if app.refused_after is not None:
                break
            time.sleep(0.01)
        assert app.refused_after is not None, "the plain writer never refused a paused transport"
        assert app.buffer_unchanged  # a refused piece wrote nothing
        sock.settimeout(10)
        raw = b""
        while chunk := sock.recv(1 << 20):
            raw += chunk
    _, _, rest = raw.partition(b"\r\n\r\n")
    framed = b"%x\r\n%b\r\n" % (len(Paused.PIECE), Paused.PIECE)
    assert rest == framed * (app.total // len(Paused.PIECE)) + b"0\r\n\r\n", app.refused_after


class Leaving:
    """Waits for the client to leave, then tries a plain write."""

    def __init__(self) -> None:
        self.after_leaving: bool | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if (write := await started(scope, send)) is None:
            return
        while (await receive())["type"] != "http.disconnect":
            pass
        self.after_leaving = write(b"too late")


def test_no_plain_write_after_the_client_left() -> None:
    app = Leaving()
    with ServerThread(app, http="httptools") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.recv(65536)  # the response's head
        for _ in range(500):
            if app.after_leaving is not None:
                break
            time.sleep(0.01)
    assert app.after_leaving is False


@pytest.fixture(scope="module", params=["assistants", "engine"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(request.param, EmulatorConfig(pace_ms=1.0), tmp_path_factory.mktemp(request.param))


def test_a_run_stream_writes_its_reads_in_plain_calls(gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Of a streamed run's body pieces, on either backend, only the last goes through uvicorn's `send`
    (and any a paused transport refused: none on loopback at this size); every delta went out."""
    sent = RequestResponseCycle.send
    bodies: list[bytes] = []

    async def counted(cycle: RequestResponseCycle, message: Any) -> None:
        if message["type"] == "http.response.body" and cycle.scope["path"].endswith("/threads/runs"):
            bodies.append(message["body"])
        await sent(cycle, message)

    monkeypatch.setattr(RequestResponseCycle, "send", counted)
    key = {"Authorization": "Bearer plain-writes"}
    with httpx.Client(base_url=gateway, headers=key, timeout=30) as http:
        made = http.post("/assistants", json={"model": "abab6.5s-chat"})
        text = "Tell me a long story about the sea and its ships, please."
        run = {"assistant_id": made.json()["id"], "thread": {"messages": [{"role": "user", "content": text}]}}
        response = http.post("/threads/runs", json={**run, "stream": True})
    assert response.status_code == 200, response.text
    events = parse_sse(response.content)
    assert len([name for name, _ in events if name == "thread.message.delta"]) >= 10
    assert len(bodies) <= 2, len(bodies)
    assert bodies[-1].endswith(b"data: [DONE]\n\n")
