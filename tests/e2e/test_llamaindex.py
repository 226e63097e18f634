"""LlamaIndex's Assistants agent (`llama_index.agent.openai.OpenAIAssistantAgent`) through the gateway, on
both backends, as its users run it: openai 1.x (what the agent's package allows) in a venv of its own
(tests/e2e/llamaindex), the gateway named by `OPENAI_BASE_URL`, the agent's default model
(`gpt-4-1106-preview`), a function tool the assistant calls and the agent runs, then the answer."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.emulator.replies import tool_result_reply

HERE = Path(__file__).parent / "llamaindex"
REQUIREMENTS = HERE / "requirements.txt"
VENV = HERE / ".venv"


@pytest.fixture(scope="session")
def llamaindex_python() -> Path:
    """The venv's interpreter, made from requirements.txt once (again when the file changes)."""
    stamp = VENV / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
            timeout=600,
        )
        stamp.write_text(wanted)
    return python


def test_the_agent_calls_its_tool_and_answers(gateway_url: str, llamaindex_python: Path) -> None:
    env = {**os.environ, "OPENAI_BASE_URL": gateway_url, "OPENAI_API_KEY": "sk-llamaindex"}
    done = subprocess.run(
        [str(llamaindex_python), str(HERE / "agent.py"), "Call get_weather for Paris"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = tool_result_reply("get_weather", "sunny in Paris")
    assert result["calls"] == ["Paris"]
    assert result["answer"] == expected
    assert result["history"] == ["Call get_weather for Paris", expected]
    assert result["thread"].startswith("thread_")
