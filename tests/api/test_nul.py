"""NUL characters are refused at the edge (PostgreSQL's text cannot hold them): a 400, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.emulator import EmulatorConfig
from tests.e2e.conftest import serve

AUTH = {"Authorization": "Bearer nul"}


@pytest.fixture(scope="module", params=["engine", "assistants"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    for base in serve(request.param, EmulatorConfig(), tmp_path_factory.mktemp("nul")):
        with httpx.Client(base_url=base, headers=AUTH, timeout=30) as http:
            yield http


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/assistants", {"model": "gpt-4o", "name": "a\x00b"}),
        ("POST", "/threads", {"messages": [{"role": "user", "content": "\x00"}]}),
        ("GET", "/threads/thread_%00x", None),
        ("GET", "/assistants?after=asst_%00", None),
    ],
)
def test_a_nul_is_a_400(client: httpx.Client, method: str, path: str, body: object) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_the_text_backslash_u0000_is_not_a_nul(client: httpx.Client) -> None:
    made = client.post("/assistants", json={"model": "gpt-4o", "name": "a\\u0000b"})
    assert made.status_code == 200 and made.json()["name"] == "a\\u0000b"
