"""Logs for machines are plain text: uvicorn's own startup lines, through `configure(..., JSON)`, carry
no terminal colour codes (no `color_message`), and the gateway's fields and request id are kept."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette

from gateway.logs import JSONFormatter, TextFormatter, configure, request_id
from gateway.loopback import ServerThread
from gateway.settings import LogFormat

NAMES = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """`configure` rewires the root and uvicorn loggers: put them back after the test."""
    saved = [
        (logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in NAMES
    ]
    flags = [(logging.getLogger(n).propagate, logging.getLogger(n).disabled) for n in NAMES]
    yield
    logging.captureWarnings(False)
    for (logger, handlers, level), (propagate, disabled) in zip(saved, flags, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


def json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_uvicorn_startup_lines_in_json_carry_no_colour(
    capsys: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    configure("info", LogFormat.JSON)  # binds the handler to this test's captured stderr
    with ServerThread(Starlette(), log_level="info", log_config=None):
        pass
    lines = json_lines(capsys.readouterr().err)
    started = [line for line in lines if line["message"].startswith("Started server process")]
    assert len(started) == 1, lines  # uvicorn logs this one with a coloured `color_message`
    assert started[0]["message"] == f"Started server process [{os.getpid()}]"
    assert started[0]["logger"] == "uvicorn.error" and started[0]["level"] == "info"
    for line in lines:
        assert "color_message" not in line
        assert "\x1b" not in orjson.dumps(line).decode("unicode_escape"), line


def test_warnings_are_json_lines_too(capsys: pytest.CaptureFixture[str], restored_logging: None) -> None:
    configure("info", LogFormat.JSON)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a large body may block the loop", ResourceWarning, stacklevel=1)
    lines = json_lines(capsys.readouterr().err)  # every line parses: nothing raw reached stderr
    assert [line["logger"] for line in lines] == ["py.warnings"]
    assert "ResourceWarning: a large body may block the loop" in lines[0]["message"]


def record(**extra: Any) -> logging.LogRecord:
    made = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Started server process [%d]", (7,), None
    )
    made.__dict__.update(extra)
    return made


def test_fields_holding_ansi_escapes_are_dropped_and_others_kept() -> None:
    token = request_id.set("req-1")
    try:
        colourful = record(
            color_message="Started server process [\x1b[36m%d\x1b[0m]",
            tint="\x1b[1mbold\x1b[0m",
            route="/v1/x",
        )
        doc = orjson.loads(JSONFormatter().format(colourful))
        text = TextFormatter().format(record(color_message="\x1b[36m%d\x1b[0m", status=200))
    finally:
        request_id.reset(token)
    assert doc["message"] == "Started server process [7]"
    assert (doc["route"], doc["request_id"]) == ("/v1/x", "req-1")
    assert "color_message" not in doc and "tint" not in doc
    assert text.endswith("[req-1] Started server process [7]  status=200")
    assert "\x1b" not in text
