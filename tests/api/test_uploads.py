"""`POST /v1/files` over real HTTP: the multipart form read as it arrives (fields before or after the
file, a body in tiny pieces), refusals with OpenAI-shaped 400s, and nothing left behind by an upload
that fails, is refused or is cut off."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.loopback import ServerThread
from gateway.settings import Settings

MAX = 4096
BOUNDARY = "b0undary"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    db = tmp_path_factory.mktemp("uploads") / "engine.db"
    with (
        ServerThread(create_emulator_app()) as up,
        ServerThread(
            create_app(
                Settings(
                    backend="engine",
                    minimax_base_url=up.url,
                    database_url=f"sqlite:///{db}",
                    max_file_bytes=MAX,
                )
            )
        ) as gw,
    ):
        yield gw.url + "/v1", db


def form(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart body of (name, filename or None, content) parts, in that order."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def post(base: str, body: bytes | Iterator[bytes], key: str = "k") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return httpx.post(f"{base}/files", content=body, headers=headers, timeout=30)


def leftovers(db: Path) -> tuple[int, int]:
    """Rows an upload that did not finish would leave: uploading files, and parts."""
    with sqlite3.connect(db) as conn:
        uploading = conn.execute("SELECT count(*) FROM files WHERE status = 'uploading'").fetchone()[0]
        kept = "SELECT id FROM files WHERE status = 'processed'"
        orphans = conn.execute(f"SELECT count(*) FROM file_parts WHERE file_id NOT IN ({kept})").fetchone()[0]
    return int(uploading), int(orphans)


def test_fields_after_the_file_and_a_body_in_tiny_pieces(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    content = bytes(range(256)) * 3 + b"\r\n--b0und" + b"tail"  # looks like a boundary, is not one
    body = form(("file", "data.bin", content), ("purpose", None, b"user_data"))

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    made = post(base, pieces())
    assert made.status_code == 200, made.text
    assert made.json()["purpose"] == "user_data" and made.json()["bytes"] == len(content)
    assert made.json()["filename"] == "data.bin" and made.json()["id"].startswith("file-")
    got = httpx.get(f"{base}/files/{made.json()['id']}/content", headers={"Authorization": "Bearer k"})
    assert got.content == content


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (form(("purpose", None, b"assistants")), "file", "Missing required parameter: 'file'"),
        (form(("file", "a.txt", b"x")), "purpose", "Missing required parameter: 'purpose'"),
        (form(("purpose", None, b"fine-tune"), ("file", "a.txt", b"x")), "purpose", "Invalid value"),
        (form(("file", "a.txt", b"x"), ("purpose", None, b"batch")), "purpose", "Invalid value"),
        (form(("purpose", None, b"assistants"), ("file", "a.txt", b"")), "file", "empty"),
        (form(("purpose", None, b"assistants"), ("upload", "a.txt", b"x")), "upload", "as 'file'"),
        (
            form(("purpose", None, b"assistants"), ("file", "a.txt", b"x"), ("file", "b.txt", b"y")),
            "file",
            "Only one file",
        ),
        (
            form(("purpose", None, b"assistants"), ("file", "a.txt", b"x" * (MAX + 1))),
            "file",
            f"largest allowed ({MAX} bytes)",
        ),
        (
            form(
                ("purpose", None, b"assistants"),
                ("expires_after[anchor]", None, b"created_at"),
                ("expires_after[seconds]", None, b"60"),
                ("file", "a.txt", b"x"),
            ),
            "expires_after.seconds",
            "3600 to 2592000",
        ),
        (b"--b0undary\r\ngarbage without headers end", None, "could not be parsed"),
    ],
)
def test_refusals_are_openai_400s_and_leave_nothing(
    gateway: tuple[str, Path], body: bytes, param: str | None, fragment: str
) -> None:
    base, db = gateway
    answer = post(base, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert fragment in error["message"], error
    assert leftovers(db) == (0, 0)
    assert httpx.get(f"{base}/files", headers={"Authorization": "Bearer k-refusals"}).json()["data"] == []


def test_not_a_multipart_body(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    answer = httpx.post(
        f"{base}/files", json={"purpose": "assistants"}, headers={"Authorization": "Bearer k"}
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "file"


def test_a_body_over_the_upload_limit_is_a_413_before_the_app(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    host, port = httpx.URL(base).host, httpx.URL(base).port
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer k\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {MAX + (1 << 20) + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(head)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_an_upload_cut_off_halfway_leaves_nothing(gateway: tuple[str, Path]) -> None:
    base, db = gateway
    host, port = httpx.URL(base).host, httpx.URL(base).port
    body = form(("purpose", None, b"assistants"), ("file", "a.txt", b"y" * 3000))
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer k-cut\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)  # the gateway has begun storing the file
    deadline = time.monotonic() + 10
    while leftovers(db) != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(db) == (0, 0)
    assert httpx.get(f"{base}/files", headers={"Authorization": "Bearer k-cut"}).json()["data"] == []
