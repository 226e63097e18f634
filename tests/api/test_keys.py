"""Keys over real HTTP in every auth mode: checked, sent upstream as configured, never logged."""

from __future__ import annotations

import json
import logging

import openai
import pytest

from gateway.api.auth import hash_key
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.replies import text_reply
from tests.api.helpers import CLIENT_KEY, UPSTREAM_KEY, emulated, stream_text


def test_gateway_keys_mode_checks_keys_and_uses_its_own(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with emulated(
        EmulatorConfig(api_key=UPSTREAM_KEY),
        auth_mode="gateway_keys",
        minimax_api_key=UPSTREAM_KEY,
        gateway_key_hashes=[hash_key(CLIENT_KEY)],
    ) as base:
        assert stream_text(base, CLIENT_KEY) == text_reply("hello")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="wrong-key-789", max_retries=0).beta.assistants.list()
        with pytest.raises(openai.AuthenticationError):  # the upstream key itself is not a gateway key
            openai.OpenAI(base_url=base, api_key=UPSTREAM_KEY, max_retries=0).beta.assistants.list()
    logged = caplog.text + "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "gateway.access" in logged  # the access lines were captured...
    for secret in (CLIENT_KEY, UPSTREAM_KEY, "wrong-key-789"):
        assert secret not in logged  # ...and no key text is in them


def test_passthrough_mode_sends_the_client_key_and_group_upstream() -> None:
    with emulated(EmulatorConfig(api_key=CLIENT_KEY, group_id="group-1")) as base:
        assert stream_text(base, CLIENT_KEY, {"X-MiniMax-Group-Id": "group-1"}) == text_reply("hello")
        with pytest.raises(openai.AuthenticationError):
            stream_text(base, "not-the-minimax-key")
        with pytest.raises(openai.AuthenticationError):  # MiniMax: 1004 token not match group
            stream_text(base, CLIENT_KEY, {"X-MiniMax-Group-Id": "group-2"})


def test_own_key_mode_uses_the_configured_key_for_any_client() -> None:
    with emulated(
        EmulatorConfig(api_key=UPSTREAM_KEY), minimax_api_key=UPSTREAM_KEY
    ) as base:  # auto -> own_key
        assert stream_text(base, "whatever-the-sdk-sends") == text_reply("hello")


def test_passthrough_is_the_default_without_a_key_of_its_own() -> None:
    with emulated(EmulatorConfig(api_key=UPSTREAM_KEY)) as base, pytest.raises(openai.AuthenticationError):
        stream_text(base, "whatever-the-sdk-sends")
