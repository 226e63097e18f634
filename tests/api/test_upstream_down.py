"""While MiniMax is unreachable: readiness fails (liveness does not), and connects are retried."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.loopback import ServerThread
from gateway.settings import Settings
from tests.api.helpers import emulated


def test_readiness_follows_the_upstream() -> None:
    with emulated() as base:
        assert httpx.get(base.removesuffix("/v1") + "/readyz").json() == {"status": "ready"}
    down = ServerThread(create_emulator_app())  # bound, not listening: connections are refused
    with ServerThread(
        create_app(Settings(backend="assistants", minimax_base_url=down.url, upstream_retries=0))
    ) as gw:
        response = httpx.get(gw.url + "/readyz")
        assert response.status_code == 503
        assert httpx.get(gw.url + "/healthz").status_code == 200  # alive, just not ready
    down.stop()


def test_connect_failures_are_retried_until_the_upstream_is_up() -> None:
    upstream = ServerThread(create_emulator_app())  # bound but not yet accepting
    with ServerThread(
        create_app(Settings(backend="assistants", minimax_base_url=upstream.url, upstream_retries=3))
    ) as gw:
        result: dict[str, Any] = {}

        def call() -> None:
            result["response"] = httpx.post(
                f"{gw.url}/v1/assistants",
                json={"model": "abab6.5s-chat"},
                headers={"Authorization": "Bearer k"},
                timeout=10,
            )

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.05)
        upstream.start()  # comes up while the gateway backs off
        caller.join(10)
    upstream.stop()
    assert result["response"].status_code == 200, result["response"].text
