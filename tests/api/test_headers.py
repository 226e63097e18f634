"""Oversized headers: 431 with an OpenAI-shaped body before any route runs (a total over
MAX_HEADER_BYTES, more than MAX_HEADERS, or one line over 8192 bytes), over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import emulated, metric

AUTH = {"Authorization": "Bearer k"}


def create(base: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{base}/assistants", json={"model": "abab6.5s-chat"}, headers={**AUTH, **headers})


def assert_431(response: httpx.Response, says: str) -> None:
    assert response.status_code == 431, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]


def test_the_header_limits_are_431_before_any_route_runs() -> None:
    with emulated(max_header_bytes=4096, max_headers=30) as base:
        root = base.removesuffix("/v1")
        assert_431(create(base, {"x-pad": "a" * 3000, "x-pad2": "b" * 1200}), "larger than 4096 bytes")
        assert_431(create(base, {f"x-h{i}": "v" for i in range(30)}), "at most 30 are accepted")
        assert_431(httpx.get(f"{root}/healthz", headers={"x-pad": "a" * 5000}), "larger than 4096 bytes")
        listed = httpx.get(f"{base}/assistants", headers=AUTH).json()
        served = create(base, {"x-pad": "a" * 3000})  # under both limits
        metrics = httpx.get(f"{root}/metrics").text
    assert listed["data"] == []  # no refused create reached the backend
    assert served.status_code == 200, served.text
    assert metric(metrics, 'gateway_requests_total{method="POST",route="/v1/assistants",status="431"}') == 2


@pytest.mark.parametrize(("line", "status"), [(8192, 200), (8193, 431)])
def test_one_header_line_over_8192_bytes_is_431_with_the_default_limits(line: int, status: int) -> None:
    value = "a" * (line - len("x-big: "))  # the line as sent: `name: value`
    with emulated() as base:
        response = create(base, {"x-big": value})
    assert response.status_code == status, response.text
    if status == 431:
        assert_431(response, "longer than 8192 bytes")


def test_the_default_limits_are_16_kb_and_100_headers() -> None:
    with emulated() as base:
        near = create(base, {f"x-h{i}": "a" * 7000 for i in range(2)})
        over = create(base, {f"x-h{i}": "a" * 6000 for i in range(3)})
        many = create(base, {f"x-h{i}": "v" for i in range(100)})
    assert near.status_code == 200, near.text
    assert_431(over, "larger than 16384 bytes")
    assert_431(many, "at most 100 are accepted")
