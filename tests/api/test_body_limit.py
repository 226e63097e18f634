"""The request body limit: 413, whether the body's size is announced or not."""

from __future__ import annotations

import json

import httpx

from tests.api.helpers import emulated


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
