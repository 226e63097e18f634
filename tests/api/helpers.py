"""Shared by the production-behaviour tests: the gateway in front of the emulator over real HTTP,
a streamed reply read with the OpenAI SDK, and a metric read from the Prometheus text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.loopback import ServerThread
from gateway.settings import Settings
from tests.sdk_messages import first_text

CLIENT_KEY = "gw-client-key-123"
UPSTREAM_KEY = "mm-upstream-secret-456"


@contextmanager
def emulated(emulator: EmulatorConfig | None = None, **settings: Any) -> Iterator[str]:
    with (
        ServerThread(create_emulator_app(emulator or EmulatorConfig())) as up,
        ServerThread(create_app(Settings(backend="assistants", minimax_base_url=up.url, **settings))) as gw,
    ):
        yield gw.url + "/v1"


def stream_text(base: str, key: str, headers: dict[str, str] | None = None) -> str:
    with openai.OpenAI(base_url=base, api_key=key, max_retries=0, default_headers=headers) as client:
        assistant = client.beta.assistants.create(model="abab6.5s-chat")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
            stream.until_done()
            value = first_text(stream.get_final_messages()[0])
    return value


def metric(text_: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text_.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )
