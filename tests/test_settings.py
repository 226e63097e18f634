"""Settings: file, then environment; invalid values stop start-up naming the setting; secrets hidden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.api.auth import hash_key, key_matches
from gateway.settings import AuthMode, Settings, load

EXAMPLE = Path(__file__).parent.parent / "config" / "gateway.env.example"


def test_the_example_file_loads_and_documents_every_setting() -> None:
    settings = load(EXAMPLE)
    assert settings == Settings()  # the example states the defaults
    text = EXAMPLE.read_text()
    for name in Settings.model_fields:
        assert name.upper() in text, f"{name.upper()} is not documented in {EXAMPLE.name}"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.env"
    config.write_text("IDLE_TIMEOUT=5\nMAX_STREAMS=7\nCORS_ORIGINS=https://a.example, https://b.example\n")
    monkeypatch.setenv("MAX_STREAMS", "9")
    settings = load(config)
    assert (settings.idle_timeout, settings.max_streams) == (5, 9)
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("IDLE_TIMEOUT=-1", "IDLE_TIMEOUT"),
        ("TEXT_MODE=sometimes", "TEXT_MODE"),
        ("LOG_LEVEL=loud", "LOG_LEVEL"),
        ("DATABASE_URL=mysql://db/gateway", "DATABASE_URL"),
        ("GATEWAY_KEY_HASHES=md5:abc", "GATEWAY_KEY_HASHES"),
        ("AUTH_MODE=gateway_keys", "AUTH_MODE=gateway_keys needs MINIMAX_API_KEY"),
    ],
)
def test_invalid_settings_stop_start_up_naming_the_setting(tmp_path: Path, line: str, named: str) -> None:
    config = tmp_path / "gateway.env"
    config.write_text(line + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert named.lower() in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr


def test_secrets_never_show(tmp_path: Path) -> None:
    settings = Settings(
        minimax_api_key="mm-very-secret", auth_mode=AuthMode.GATEWAY_KEYS, gateway_key_hashes=[hash_key("k")]
    )
    assert "mm-very-secret" not in repr(settings) and "mm-very-secret" not in str(settings.model_dump())


def test_key_hashes_from_a_mounted_file(tmp_path: Path) -> None:
    hashes = tmp_path / "keys"
    hashes.write_text(f"# team A\n{hash_key('alpha')}\n\n{hash_key('beta')}\n")
    settings = Settings(auth_mode="gateway_keys", minimax_api_key="mm", gateway_key_hashes_file=hashes)
    assert key_matches("beta", settings.key_hashes())
    assert not key_matches("gamma", settings.key_hashes())


def test_hash_key_command_reads_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--hash-key"],
        input="sk-abc\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == hash_key("sk-abc")
