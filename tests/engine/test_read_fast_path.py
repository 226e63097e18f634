"""The executor's direct path for plain answer pieces (`ChatStreamDecoder.answer` straight to a text delta,
`Executor._take`) streams and stores exactly what the path through `feed` and `_apply` does: the same run
is made with it and with `answer` switched off, in every chat dialect of the conversation tests, with a
tool call too; the events (ids and stamps aside) and the stored message and steps must be equal, and
the direct path must have been taken."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.engine import chunks
from tests.engine.dialects import DIALECTS
from tests.engine.helpers_e2e import Stack, assistant, messages, post_events, stack, steps, thread
from tests.engine.helpers_lifecycle import WEATHER

_ID = re.compile(r"^(asst|thread|msg|run|step|call)_\w+$")  # MiniMax's call ids are call_function_…
_answer = chunks.ChatStreamDecoder.answer


def _normal(value: Any, ids: dict[str, str]) -> Any:
    """`value` with each id numbered in order of appearance and every `*_at` stamp dropped."""
    if isinstance(value, dict):
        return {k: _normal(v, ids) for k, v in value.items() if not k.endswith("_at")}
    if isinstance(value, list | tuple):
        return [_normal(v, ids) for v in value]
    if isinstance(value, str) and _ID.match(value):
        return ids.setdefault(value, f"<{len(ids)}>")
    return value


def _run(s: Stack, key: str, text: str, **assistant_fields: Any) -> Any:
    with s.http(key) as client:
        tid = thread(client, text)
        events = post_events(
            client, f"/threads/{tid}/runs", {"assistant_id": assistant(client, **assistant_fields)}
        )
        run_id = next(data["id"] for name, data in events if name == "thread.run.created")
        stored = (messages(client, tid), steps(client, tid, run_id))
    ids: dict[str, str] = {}
    return _normal(events, ids), _normal(stored, ids)


@pytest.fixture(scope="module", params=list(DIALECTS))
def dialect(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = DIALECTS[request.param]
    extra = {"think_closer_only": True} if config.chat_thinking == "closer_only" else {}
    with stack(config, Path(tmp_path_factory.mktemp(request.param)), **extra) as s:
        yield s


@pytest.mark.parametrize(
    ("text", "fields", "direct_pieces"),
    [
        ("Tell me a long story about the sea and its ships, please.", {}, True),
        # a tool call and no text: nothing for the direct path, which must step aside
        ("What is the weather in Paris? Use get_weather.", {"tools": [WEATHER]}, False),
    ],
)
def test_direct_answer_path_streams_and_stores_what_the_general_path_does(
    dialect: Stack, monkeypatch: pytest.MonkeyPatch, text: str, fields: dict[str, Any], direct_pieces: bool
) -> None:
    key = dialect.key()  # one tenant: the emulator's deterministic model answers both runs alike
    taken = [0]

    def counting(self: chunks.ChatStreamDecoder, payload: bytes) -> str | None:
        piece = _answer(self, payload)
        taken[0] += piece is not None
        return piece

    monkeypatch.setattr(chunks.ChatStreamDecoder, "answer", counting)
    direct = _run(dialect, key, text, **fields)
    assert (taken[0] > 0) is direct_pieces  # the direct path was reached (or had nothing to take)
    monkeypatch.setattr(chunks.ChatStreamDecoder, "answer", lambda self, payload: None)
    general = _run(dialect, key, text, **fields)
    assert direct == general
    names = [name for name, _ in direct[0]]
    assert ("thread.message.delta" in names) is direct_pieces
    assert names[-1] in ("thread.run.completed", "thread.run.requires_action")
