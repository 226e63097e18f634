"""The sandbox server and RemoteSessions, its client, over real HTTP on loopback: code runs and files go
in and out through it as through LocalSessions; without the token nothing but /healthz answers, and the
token never shows in an error; bad input is a 4xx with the server's words; a server that cannot be reached
or fails is a SandboxError. Real bubblewrap sandboxes behind it; nothing is mocked."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.loopback import ServerThread
from gateway.sandbox.remote import RemoteSessions
from gateway.sandbox.run import Limits, Sandbox
from gateway.sandbox.server import create_app
from gateway.sandbox.sessions import FileTooLarge, LocalSessions, SandboxError
from tests.sandbox.conftest import Clock, reserve_uids

TOKEN = "sbx-" + secrets.token_urlsafe(24)
FILE_BYTES = 2 << 20


def local(base: Path, max_sessions: int = 16, clock: Clock | None = None) -> LocalSessions:
    return LocalSessions(
        Sandbox(Limits(file_bytes=FILE_BYTES, wall_seconds=30)),
        base,
        location="local",
        idle_seconds=60.0,
        max_sessions=max_sessions,
        first_uid=reserve_uids(max_sessions),
        clock=clock or Clock(),
    )


@pytest.fixture(scope="module")
def server(module_base: Path) -> Iterator[ServerThread]:
    with ServerThread(create_app(local(module_base), TOKEN)) as running:
        yield running


@pytest_asyncio.fixture
async def remote(server: ServerThread) -> AsyncIterator[RemoteSessions]:
    sessions = RemoteSessions(server.url, TOKEN)
    yield sessions
    await sessions.aclose()


@pytest_asyncio.fixture
async def raw(server: ServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield client


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def read_all(sessions: RemoteSessions, key: str, name: str, limit: int = FILE_BYTES) -> list[bytes]:
    return [chunk async for chunk in sessions.read_file(key, name, limit)]


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- through RemoteSessions ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_code_runs_on_the_server_and_keeps_its_state(
    remote: RemoteSessions, server: ServerThread
) -> None:
    assert remote.location == server.url and TOKEN not in repr(remote)
    first = await remote.execute("exec", "n = 6\n_ = open('made.txt', 'w').write('m')")
    second = await remote.execute("exec", "print('n is', n)\nn * 7")
    failed = await remote.execute("exec", "1 / 0")
    assert (first.stdout, first.error, first.files) == ("", None, ["made.txt"])
    assert second.stdout == "n is 6\n42\n" and second.error is None and not second.reset
    assert failed.error is not None and "ZeroDivisionError" in failed.error
    figure = await remote.execute("exec", "import matplotlib.pyplot as plt\nplt.plot([1, 2], [2, 1])")
    assert figure.error is None and len(figure.images) == 1 and figure.images[0].endswith(".png")
    (png,) = await read_all(remote, "exec", figure.images[0])
    assert png[:4] == b"\x89PNG"


@pytest.mark.asyncio
async def test_files_go_in_and_out_streamed(remote: RemoteSessions, module_base: Path) -> None:
    data = os.urandom(FILE_BYTES - 1000)
    await remote.put_file("files", "in.bin", chunked(data, 64 * 1024))
    assert (module_base / "files" / "in.bin").read_bytes() == data  # the server's session directory
    cell = await remote.execute(
        "files", "raw = open('in.bin', 'rb').read()\nopen('out.bin', 'wb').write(raw[::-1])"
    )
    assert cell.error is None and cell.files == ["out.bin"]
    chunks = await read_all(remote, "files", "out.bin")
    assert b"".join(chunks) == data[::-1] and len(chunks) > 1
    await remote.put_file("files", "empty.txt", chunked(b"", 1))
    assert await read_all(remote, "files", "empty.txt") == []


@pytest.mark.asyncio
async def test_has_and_close(remote: RemoteSessions, module_base: Path) -> None:
    assert await remote.has("closing") is False
    await remote.execute("closing", "v = 1")
    assert await remote.has("closing") is True and (module_base / "closing").is_dir()
    await remote.close("closing")
    assert await remote.has("closing") is False and not (module_base / "closing").exists()
    fresh = await remote.execute("closing", "v")
    assert fresh.error is not None and "NameError" in fresh.error
    assert await remote.expire() == 0  # the server expires its own


@pytest.mark.asyncio
async def test_files_the_server_refuses(remote: RemoteSessions) -> None:
    with pytest.raises(FileTooLarge, match=r"big\.bin is larger than the sandbox's file size limit"):
        await remote.put_file("refused", "big.bin", chunked(b"x" * (FILE_BYTES + 1), 256 * 1024))
    with pytest.raises(SandboxError, match=r"/mnt/data/absent\.txt does not exist"):
        await read_all(remote, "refused", "absent.txt")
    await remote.execute(
        "refused", "import os\nos.symlink('/etc/passwd', 'link')\nopen('f', 'w').write('z' * 50)"
    )
    with pytest.raises(SandboxError, match="/mnt/data/link is not a plain file"):
        await read_all(remote, "refused", "link")
    with pytest.raises(FileTooLarge, match="larger than 10 bytes"):
        await read_all(remote, "refused", "f", limit=10)
    for name in ("..", "a/b", ""):
        with pytest.raises(SandboxError, match="cannot name a file"):
            await remote.put_file("refused", name, chunked(b"1", 1))
    with pytest.raises(SandboxError, match="cannot name a session"):
        await remote.execute("no.dots", "1")


@pytest.mark.asyncio
async def test_a_wrong_token_is_refused_and_never_shown(server: ServerThread) -> None:
    wrong = "sbx-" + secrets.token_urlsafe(24)
    sessions = RemoteSessions(server.url, wrong)
    try:
        for call in (sessions.execute("tok", "1"), sessions.has("tok"), sessions.close("tok")):
            with pytest.raises(SandboxError, match="a valid bearer token") as caught:
                await call
            assert wrong not in str(caught.value) and TOKEN not in str(caught.value)
        with pytest.raises(SandboxError, match="a valid bearer token"):
            await read_all(sessions, "tok", "f")
    finally:
        await sessions.aclose()


# --- the HTTP API itself --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_only_healthz_answers_without_the_token(raw: httpx.AsyncClient) -> None:
    assert (await raw.get("/healthz")).status_code == 200
    for method, path in [
        ("POST", "/v1/sessions/auth/cells"),
        ("GET", "/v1/sessions/auth"),
        ("DELETE", "/v1/sessions/auth"),
        ("PUT", "/v1/sessions/auth/files/f"),
        ("GET", "/v1/sessions/auth/files/f?limit=1"),
        ("GET", "/no/such/route"),
    ]:
        for headers in ({}, auth("nope"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
            answer = await raw.request(method, path, headers=headers, json={"code": "1"})
            assert answer.status_code == 401, (method, path, headers)
            assert answer.json()["error"]["type"] == "authentication_error"
            assert TOKEN not in answer.text
    assert (await raw.get("/v1/sessions/auth", headers={"Authorization": f"bearer {TOKEN}"})).json() == {
        "exists": False
    }


@pytest.mark.asyncio
async def test_bad_input_is_a_4xx_with_the_servers_words(raw: httpx.AsyncClient) -> None:
    cases = [
        ("GET", "/v1/sessions/bad.key", None, 400, "'bad.key' cannot name a session"),
        ("PUT", f"/v1/sessions/ok/files/{'x' * 256}", b"1", 400, "cannot name a file in /mnt/data"),
        ("PUT", "/v1/sessions/ok/files/%2E%2E", b"1", 400, "'..' cannot name a file"),
        ("PUT", "/v1/sessions/ok/files/a%00b", b"1", 400, "cannot name a file"),
        ("GET", "/v1/sessions/ok/files/f", None, 400, "?limit= must be"),
        ("GET", "/v1/sessions/ok/files/f?limit=-1", None, 400, "?limit= must be"),
        ("GET", "/v1/sessions/ok/files/missing?limit=9", None, 404, "/mnt/data/missing does not exist"),
        ("POST", "/v1/sessions/ok/cells", b"not json", 400, 'JSON {"code": "..."}'),
        ("POST", "/v1/sessions/ok/cells", b'{"code": 5}', 400, 'JSON {"code": "..."}'),
        ("POST", "/v1/sessions/ok/cells", b'["code"]', 400, 'JSON {"code": "..."}'),
        ("PATCH", "/v1/sessions/ok", None, 405, "Method Not Allowed"),
        ("GET", "/v1/nothing", None, 404, "Not Found"),
    ]
    for method, path, body, status, message in cases:
        answer = await raw.request(method, path, content=body, headers=auth())
        assert answer.status_code == status, (path, answer.text)
        error = answer.json()["error"]
        assert message in error["message"] and isinstance(error["type"], str), (path, error)


@pytest.mark.asyncio
async def test_a_cell_is_all_of_its_fields_as_json(raw: httpx.AsyncClient) -> None:
    answer = await raw.post("/v1/sessions/json/cells", json={"code": "print('hi')"}, headers=auth())
    assert answer.status_code == 200
    assert answer.json() == {
        "stdout": "hi\n",
        "error": None,
        "images": [],
        "truncated": False,
        "files": [],
        "timed_out": False,
        "died": False,
        "reset": False,
    }


# --- a server that cannot be reached or fails -------------------------------------------------------


@pytest.mark.asyncio
async def test_a_server_that_cannot_be_reached() -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        sessions = RemoteSessions(f"http://127.0.0.1:{closed.getsockname()[1]}", TOKEN)
        try:
            for call in (sessions.execute("k", "1"), sessions.put_file("k", "f", chunked(b"1", 1))):
                with pytest.raises(SandboxError, match=r"cannot be reached \(ConnectError") as caught:
                    await call
                assert TOKEN not in str(caught.value)
            with pytest.raises(SandboxError, match="cannot be reached"):
                await read_all(sessions, "k", "f")
        finally:
            await sessions.aclose()


@pytest.mark.asyncio
async def test_a_failing_server_or_proxy_is_unreachable_too() -> None:
    async def bad_gateway(request: Request) -> Response:
        return PlainTextResponse(f"upstream said: {request.headers.get('authorization')}", 502)

    app = Starlette(routes=[Route("/{path:path}", bad_gateway, methods=["GET", "POST", "PUT", "DELETE"])])
    with ServerThread(app) as proxy:
        sessions = RemoteSessions(proxy.url, TOKEN)
        try:
            with pytest.raises(SandboxError, match=r"cannot be reached \(HTTP 502\)") as caught:
                await sessions.execute("k", "1")
            assert TOKEN not in str(caught.value)
            with pytest.raises(SandboxError, match=r"HTTP 502"):
                await read_all(sessions, "k", "f")
        finally:
            await sessions.aclose()


@pytest.mark.asyncio
async def test_a_shared_client_stays_open(server: ServerThread) -> None:
    async with httpx.AsyncClient() as client:
        sessions = RemoteSessions(server.url + "/", TOKEN, client)
        assert await sessions.has("shared") is False
        await sessions.aclose()
        assert not client.is_closed


# --- the server's own lifecycle ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_server_expires_idle_sessions_and_ends_all_at_shutdown(base: Path) -> None:
    clock = Clock()
    sessions = local(base, max_sessions=2, clock=clock)
    with ServerThread(create_app(sessions, TOKEN, expire_every=0.05)) as running:
        remote = RemoteSessions(running.url, TOKEN)
        try:
            await remote.execute("idle", "1")
            clock.now += 61  # idle_seconds is 60
            await remote.execute("kept", "1")
            deadline = time.monotonic() + 10
            while (base / "idle").exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # the server's sweeper, every 0.05 s
            assert not await remote.has("idle") and not (base / "idle").exists()
            assert await remote.has("kept") and (base / "kept").is_dir()
        finally:
            await remote.aclose()
    assert list(base.iterdir()) == []  # shutdown ended the rest


def test_main_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "CODE_SANDBOX_DIR": str(tmp_path / "s")}
    started = subprocess.run(
        [sys.executable, "-m", "gateway.sandbox.server"], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 1
    assert "CODE_SANDBOX_TOKEN is not set" in started.stderr


def test_main_refuses_to_start_where_no_sandbox_can_run(base: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "CODE_SANDBOX_TOKEN": TOKEN,
        "CODE_SANDBOX_DIR": str(base / "sessions"),
        "CODE_MEMORY_BYTES": str(8 << 20),  # no interpreter starts in 8 MiB of address space
    }
    started = subprocess.run(
        [sys.executable, "-m", "gateway.sandbox.server"], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 1
    assert "no sandbox can run here, so no code will: " in started.stderr
    assert TOKEN not in started.stderr and list((base / "sessions").iterdir()) == []


def test_main_serves_with_the_settings_and_stops_on_sigterm(base: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": os.environ["PATH"],
        "CODE_SANDBOX_TOKEN": TOKEN + "\n",  # a Secret made from a file ends with a newline
        "CODE_SANDBOX_DIR": str(base / "sessions"),
        "CODE_FIRST_UID": str(reserve_uids(4)),
        "CODE_MAX_SESSIONS": "4",
        "LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.sandbox.server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        cell = httpx.post(url + "/v1/sessions/main/cells", json={"code": "print(2 + 2)"}, headers=auth())
        assert cell.json()["stdout"] == "4\n", cell.text
        assert (base / "sessions" / "main").is_dir()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn ends by raising the signal it caught again once it has shut down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in stderr, stderr
    assert not (base / "sessions" / "main").exists()  # ended at shutdown
    assert TOKEN not in stderr
