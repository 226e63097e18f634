"""Python code pinned to openai 1.x, through the gateway on both backends: the SDK 1.x's streaming
helpers, and LlamaIndex's Assistants agent (`OpenAIAssistantAgent`, whose package allows only openai
1.x). Both run in a venv of their own (tests/e2e/openai1, made from its pinned requirements.txt on the
first run, as the Node tests run `npm ci`), reaching the gateway as any server: `OPENAI_BASE_URL`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.emulator.replies import text_reply, tool_result_reply

HERE = Path(__file__).parent / "openai1"
REQUIREMENTS = HERE / "requirements.txt"
VENV = HERE / ".venv"


@pytest.fixture(scope="session")
def openai1_python() -> Path:
    """The venv's interpreter, made from requirements.txt once (again when the file changes)."""
    stamp = VENV / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True, timeout=600)
        stamp.write_text(wanted)
    return python


def run_script(python: Path, script: str, gateway_url: str, *args: str) -> Any:
    """Run one of tests/e2e/openai1's scripts against the gateway; the JSON object it printed."""
    env = {**os.environ, "OPENAI_BASE_URL": gateway_url, "OPENAI_API_KEY": "sk-openai1"}
    done = subprocess.run(
        [str(python), str(HERE / script), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_sdk_1x_stream_helpers(gateway_url: str, openai1_python: Path) -> None:
    result = run_script(
        openai1_python, "stream.py", gateway_url, "Stream to SDK one", "Call get_weather for Oslo", "snow"
    )
    assert result["sdk"].startswith("1.")
    plain = result["plain"]
    expected = text_reply("Stream to SDK one")
    assert plain["status"] == "completed"
    assert "".join(plain["deltas"]) == expected and plain["final"] == [expected]
    assert plain["events"][:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert plain["events"][-1] == "thread.run.completed"
    tool = result["tool"]
    answer = tool_result_reply("get_weather", "snow")
    assert tool["status"] == "requires_action" and tool["call"] == ["get_weather", {"location": "Oslo"}]
    assert tool["after"] == "completed"
    assert "".join(tool["deltas"]) == answer and tool["stored"] == [answer]


def test_the_llamaindex_agent_calls_its_tool_and_answers(gateway_url: str, openai1_python: Path) -> None:
    """The agent as its users run it: its default model (`gpt-4-1106-preview`), a `FunctionTool` the
    assistant calls and the agent runs, then the answer and the thread's history."""
    result = run_script(openai1_python, "llamaindex_agent.py", gateway_url, "Call get_weather for Paris")
    expected = tool_result_reply("get_weather", "sunny in Paris")
    assert result["calls"] == ["Paris"]
    assert result["answer"] == expected
    assert result["history"] == ["Call get_weather for Paris", expected]
    assert result["thread"].startswith("thread_")
