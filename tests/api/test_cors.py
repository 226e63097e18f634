"""CORS: preflights from configured origins are answered, others get no allow-origin."""

from __future__ import annotations

import httpx

from tests.api.helpers import emulated


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
