"""The status vocabulary against OpenAI's own lists (the installed SDK's types) and the SQL built from it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, get_args

import orjson
import pytest
from openai.types.beta.threads.message import IncompleteDetails, Message
from openai.types.beta.threads.run import Run
from openai.types.beta.threads.run_status import RunStatus as OpenAIRunStatus
from openai.types.beta.threads.runs.run_step import RunStep

from gateway.engine.store import leases, tables
from gateway.schemas.status import (
    MESSAGE_FINAL,
    MESSAGE_STAMP,
    RUN_ACTIVE,
    RUN_END_REASON,
    RUN_END_STEP,
    RUN_FINAL,
    RUN_LEASED,
    RUN_STAMP,
    STEP_FINAL,
    STEP_STAMP,
    STREAM_END,
    MessageEnd,
    MessageStatus,
    RunStatus,
    RunStatusLiteral,
    StepEnd,
    StepStatus,
    in_order,
    plain,
)


def _literal(model: Any, field: str) -> tuple[str, ...]:
    return get_args(model.model_fields[field].annotation)


def test_statuses_are_openais_in_its_order() -> None:
    assert tuple(RunStatus) == get_args(OpenAIRunStatus)
    assert tuple(StepStatus) == _literal(RunStep, "status")
    assert tuple(MessageStatus) == _literal(Message, "status")


def test_run_sets() -> None:
    assert {"cancelled", "failed", "completed", "incomplete", "expired"} == RUN_FINAL
    assert RUN_FINAL | {"requires_action"} == STREAM_END
    assert set(RunStatus) - RUN_FINAL == RUN_ACTIVE
    assert {"queued", "in_progress", "cancelling"} == RUN_LEASED
    assert not RUN_ACTIVE & RUN_FINAL


def test_stamps_are_fields_of_openais_objects() -> None:
    assert set(RUN_STAMP) <= RUN_FINAL
    assert set(RUN_STAMP.values()) <= set(Run.model_fields)
    assert RUN_STAMP == {
        "cancelled": "cancelled_at",
        "failed": "failed_at",
        "completed": "completed_at",
        "expired": "expires_at",
    }
    assert set(STEP_STAMP) == STEP_FINAL == set(StepStatus) - {"in_progress"}
    assert set(STEP_STAMP.values()) <= set(RunStep.model_fields)
    assert set(MESSAGE_STAMP) == MESSAGE_FINAL == set(MessageStatus) - {"in_progress"}
    assert set(MESSAGE_STAMP.values()) <= set(Message.model_fields)


def test_what_a_run_end_makes_of_open_steps_and_messages() -> None:
    assert set(RUN_END_STEP) == RUN_FINAL
    assert set(RUN_END_STEP.values()) <= STEP_FINAL
    assert set(RUN_END_REASON) == RUN_FINAL - {"completed"}
    assert set(RUN_END_REASON.values()) <= set(_literal(IncompleteDetails, "reason"))


def test_literal_aliases_match_the_enums() -> None:
    assert get_args(RunStatusLiteral) == tuple(RunStatus)
    assert {str(s) for s in get_args(StepEnd)} == STEP_FINAL
    assert {str(s) for s in get_args(MessageEnd)} == MESSAGE_FINAL


def test_members_are_their_strings_everywhere() -> None:
    """JSON, event names and lookups see the value, so a payload is byte-identical to a plain str's."""
    for status in (*RunStatus, *StepStatus, *MessageStatus):
        value = status.value
        assert type(value) is str
        assert status == value and hash(status) == hash(value)
        assert f"thread.run.{status}" == f"thread.run.{value}"
        assert orjson.dumps({"status": status}) == orjson.dumps({"status": value})
        assert json.dumps({"status": status}) == json.dumps({"status": value})
    assert "requires_action" in STREAM_END and RUN_STAMP["completed"] == "completed_at"


def test_plain_checks_a_status_and_gives_its_plain_string() -> None:
    """What the store binds: exactly `str`, from a member or its value; any other string refused."""
    for kind in (RunStatus, StepStatus, MessageStatus):
        for member in kind:
            for given in (member, member.value):
                got = plain(kind, given)
                assert got == member.value and type(got) is str
    with pytest.raises(ValueError, match="'requires_action' is not a valid StepStatus"):
        plain(StepStatus, "requires_action")
    with pytest.raises(ValueError):
        plain(MessageStatus, RunStatus.QUEUED)
    with pytest.raises(ValueError):
        plain(RunStatus, "Completed")


def test_sql_is_built_in_a_fixed_order() -> None:
    assert in_order(RUN_ACTIVE) == tables.ACTIVE_RUN_STATUSES
    assert in_order(RUN_LEASED) == leases.LEASED == ("queued", "in_progress", "cancelling")
    assert all(type(s) is str for s in leases.LEASED)
    assert in_order(frozenset[RunStatus]()) == ()


def test_the_vocabulary_imports_nothing_of_the_gateway() -> None:
    """Both the stream and the store import it: it must not import either (no cycle)."""
    code = (
        "import sys, gateway.schemas.status; print(sorted(m for m in sys.modules if m.startswith('gateway')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['gateway', 'gateway.schemas', 'gateway.schemas.status']"
