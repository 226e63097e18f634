"""Real loopback HTTP: the MiniMax emulator, the gateway in front of it, and the real SDKs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.serve import ServerThread
from gateway.settings import Settings

# Every dialect value appears at least once; each line is one plausible MiniMax.
DIALECTS = {
    "incr-steps-statuscode-echo": EmulatorConfig(),
    "cumul-nosteps-code-split": EmulatorConfig(
        text_mode="cumulative", step_frames=False, base_resp_style="code", echo_user=False, chunking="split"
    ),
    "final-steps-empty-split": EmulatorConfig(
        text_mode="incremental_final", base_resp_style="empty", chunking="split", split_seed=7
    ),
    "cumul-steps-crlf": EmulatorConfig(text_mode="cumulative", echo_user=False, line_ending="\r\n"),
    "incr-nosteps-empty-split-crlf": EmulatorConfig(
        step_frames=False,
        base_resp_style="empty",
        echo_user=False,
        chunking="split",
        split_seed=3,
        line_ending="\r\n",
    ),
    "final-nosteps-code": EmulatorConfig(
        text_mode="incremental_final", step_frames=False, base_resp_style="code"
    ),
}

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module", params=list(DIALECTS), ids=list(DIALECTS))
def dialect_gateway(request: pytest.FixtureRequest) -> Iterator[str]:
    """The gateway's base URL (`.../v1`) in front of an emulator speaking one dialect."""
    with (
        ServerThread(create_emulator_app(DIALECTS[request.param])) as upstream,
        ServerThread(create_app(Settings(minimax_base_url=upstream.url))) as gateway,
    ):
        yield gateway.url + "/v1"


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    """The gateway in front of the default emulator."""
    with (
        ServerThread(create_emulator_app(EmulatorConfig())) as upstream,
        ServerThread(create_app(Settings(minimax_base_url=upstream.url))) as gateway,
    ):
        yield gateway.url + "/v1"


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """The openai npm package at the version package-lock.json pins, installed once."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the Node SDK tests"
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600, capture_output=True
        )
    return NODE_DIR / "scenarios.mjs"
