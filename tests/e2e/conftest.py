"""Real loopback HTTP: the MiniMax emulator, the gateway in front of it (either backend), the real SDKs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.loopback import ServerThread
from gateway.settings import Settings

# Every dialect value appears at least once; each line is one plausible MiniMax.
BRIDGE_DIALECTS = {
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
# The engine in every chat dialect: each value of each knob at least once.
ENGINE_DIALECTS = {
    "engine-inline-incr-usage": EmulatorConfig(),
    "engine-split-cumul-final-split": EmulatorConfig(
        chat_thinking="split",
        chat_reasoning="cumulative",
        chat_ending="final_message",
        chunking="split",
        split_seed=5,
    ),
    "engine-both-incr-done-emptyrole-crlf": EmulatorConfig(
        chat_thinking="both", chat_ending="done", chat_empty_role=True, line_ending="\r\n"
    ),
    "engine-split-incr-usage-whole-split": EmulatorConfig(
        chat_thinking="split", chat_tool_args="whole", chunking="split", split_seed=11
    ),
    "engine-inline-cumul-final-emptyrole-whole": EmulatorConfig(
        chat_reasoning="cumulative", chat_ending="final_message", chat_empty_role=True, chat_tool_args="whole"
    ),
    "engine-closer-incr-done": EmulatorConfig(chat_thinking="closer_only", chat_ending="done"),
}
BACKEND_OF: dict[str, str] = {}  # gateway base URL -> the backend serving it

NODE_DIR = Path(__file__).parent / "node"
NODE4_DIR = Path(__file__).parent / "node4"


def settings_for(backend: str, upstream: str, db_dir: Path, **extra: Any) -> Settings:
    """The gateway's settings for one backend in front of an emulator at `upstream`."""
    if backend == "engine":
        extra.setdefault("database_url", f"sqlite:///{db_dir / 'engine.db'}")
    return Settings(backend=backend, minimax_base_url=upstream, **extra)


def serve(backend: str, config: EmulatorConfig, db_dir: Path, **extra: Any) -> Iterator[str]:
    with (
        ServerThread(create_emulator_app(config)) as upstream,
        ServerThread(create_app(settings_for(backend, upstream.url, db_dir, **extra))) as gateway,
    ):
        url = gateway.url + "/v1"
        BACKEND_OF[url] = backend
        yield url


DIALECTS = {**BRIDGE_DIALECTS, **ENGINE_DIALECTS}


@pytest.fixture(scope="module", params=list(DIALECTS), ids=list(DIALECTS))
def dialect_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The gateway's base URL (`.../v1`) in front of an emulator speaking one dialect."""
    name: str = request.param
    backend = "engine" if name in ENGINE_DIALECTS else "assistants"
    extra = {"think_closer_only": True} if DIALECTS[name].chat_thinking == "closer_only" else {}
    yield from serve(backend, DIALECTS[name], tmp_path_factory.mktemp(name), **extra)


@pytest.fixture(scope="module", params=["assistants", "engine"])
def gateway_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway in front of the default emulator, on each backend."""
    yield from serve(request.param, EmulatorConfig(), tmp_path_factory.mktemp(request.param))


@pytest.fixture
def backend(gateway_url: str) -> str:
    return BACKEND_OF[gateway_url]


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


@pytest.fixture(scope="session")
def node4_sdk() -> Path:
    """The openai npm package 4.x (what Node code of 2024 pins) at the version tests/e2e/node4 locks,
    installed once: the directory `OPENAI_SDK_DIR` gives scenarios.mjs to run with it."""
    npm = shutil.which("npm")
    assert npm, "npm is needed for the Node SDK tests"
    if not (NODE4_DIR / "node_modules" / "openai").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE4_DIR,
            check=True,
            timeout=600,
            capture_output=True,
        )
    return NODE4_DIR / "node_modules" / "openai"
