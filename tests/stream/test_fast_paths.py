"""The stream core's inlined copies give exactly what the general path gives, on random inputs:
the relay's text-delta encoding (vs `encode_into`), `MessageStream.apply`'s single-item branch (vs
`apply_general`) and `TextAccumulator.push`'s fast append (vs `push_general`). The general paths are
the production methods the fast paths hand every other input to; a planted difference in each
shows that the comparison catches one.

Each test also counts how often its inputs reached the copy and its edge cases, so a strategy
that stopped reaching them fails instead of passing vacuously. The content strategies come from
`fast_path_cases.py`, shared with `tests/bridge/test_fast_path.py`, which builds MiniMax frames from them.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.shapes import annotation_to_openai
from gateway.lifecycle import Lifecycle
from gateway.metrics import Metrics
from gateway.stream.events import Event, StreamEvent, TextDelta, text_delta_head
from gateway.stream.message import MessageStream
from gateway.stream.relay import relay
from gateway.stream.sse import DONE, encode_into
from gateway.stream.text import _INCREMENTAL, TextAccumulator, TextMode
from tests.stream.fast_path_cases import (
    ANNOTATIONS,
    DIALECTS,
    SETTINGS,
    Texts,
    draw_content,
    draw_value,
    one_more_char,
    outcome,
    text_item,
)

# -- 1. the relay's inlined text delta ----------------------------------------------------------

NAMES = ("thread.message.delta", "thread.run.in_progress", "thread.message.completed", "made.up")
JSON = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=5))
EVENTS = st.one_of(
    st.builds(
        lambda message_id, index, piece: TextDelta(text_delta_head(message_id, index), piece),
        st.text(max_size=6),
        st.integers(0, 4),
        st.text(max_size=8),
    ),
    st.builds(Event, st.sampled_from(NAMES), st.dictionaries(st.text(max_size=4), JSON, max_size=3)),
)
UNIT = st.lists(EVENTS, max_size=3)  # the events of one frame
BATCHES = st.lists(st.tuples(st.lists(UNIT, max_size=4), st.booleans()), max_size=6)  # (units, lazy)


class Events:
    """An `EventSource` over prepared batches (as lists, or lazily as iterators like the bridge's)."""

    def __init__(self, prelude: list[StreamEvent], batches: list[Any], closing: list[StreamEvent]) -> None:
        self.prelude = prelude
        self.terminal = False
        self._batches = list(batches)
        self._closing = closing

    @staticmethod
    def translate(unit: Any) -> Any:
        return unit

    def opening(self) -> asyncio.Future[None]:
        opened = asyncio.get_running_loop().create_future()
        opened.set_result(None)
        return opened

    @staticmethod
    def attach(sink: Any, text: Any) -> None:
        return None  # read by next_batch, like the bridge's frames

    async def next_batch(self) -> Any:
        if not self._batches:
            return None
        units, lazy = self._batches.pop(0)
        return iter(units) if lazy else units

    def fail(self, code: str, message: str) -> list[StreamEvent]:
        raise AssertionError(f"the relay failed the stream: {code} {message}")

    def finish(self) -> list[StreamEvent]:
        return self._closing

    async def aclose(self) -> None:
        pass


async def _ready() -> bool:
    return True


def relayed(relay_: Any, source: Events) -> tuple[list[tuple[bytes, bool]], tuple[float | None, ...]]:
    """The writes a relay makes of `source`, and the counts it adds to the metrics."""
    writes: list[tuple[bytes, bool]] = []
    metrics = Metrics()

    async def write(chunk: bytes, last: bool = False) -> None:
        writes.append((chunk, last))

    async def main() -> None:
        await relay_(source, metrics, write, Lifecycle(1, _ready, 1).open_stream())

    asyncio.run(main())
    counts = tuple(
        metrics.registry.get_sample_value(n)
        for n in ("gateway_upstream_frames_total", "gateway_events_total")
    )
    return writes, counts


def encoded_writes(prelude: list[StreamEvent], batches: list[Any], closing: list[StreamEvent]) -> list[Any]:
    """The writes the relay's contract asks for, encoded by `encode_into` only."""
    writes: list[tuple[bytes, bool]] = []
    parts = encode_into(prelude, [])
    for units, _ in batches:
        for unit in units:
            encode_into(unit, parts)
        if parts:
            writes.append((b"".join(parts), False))
            parts = []
    writes.append((b"".join(encode_into(closing, parts)) + DONE, True))
    return writes


def test_relay_writes_what_encode_into_makes() -> None:
    seen: Counter[str] = Counter()

    @SETTINGS
    @given(st.lists(EVENTS, max_size=2), BATCHES, st.lists(EVENTS, max_size=3))
    def check(prelude: list[StreamEvent], batches: list[Any], closing: list[StreamEvent]) -> None:
        for units, _ in batches:
            for unit in units:
                single = len(unit) == 1 and type(unit[0]) is TextDelta
                seen["copy" if single else "many" if len(unit) > 1 else "one event" if unit else "empty"] += 1
        expected = encoded_writes(prelude, batches, closing)
        writes, counts = relayed(relay, Events(prelude, batches, closing))
        assert writes == expected
        frames = sum(len(units) for units, _ in batches)
        events = len(prelude) + len(closing) + sum(len(u) for units, _ in batches for u in units)
        assert counts == (frames, events)

    check()
    assert min(seen.values()) >= 20 and len(seen) == 4, seen


# -- 3. MessageStream.apply's single-item branch ------------------------------------------------


def single_item(stream: MessageStream, content: Any) -> str:
    """Which way `apply` goes: its single-item branch ("copy"), in and out to the loop ("near"), or not."""
    if type(content) is not list or len(content) != 1:
        return "loop"
    item = content[0]
    if type(item) is not dict or type(text := item.get("text")) is not dict:
        return "loop"
    try:
        block = stream._blocks.get(item.get("id") or 0)
    except TypeError:
        return "near"
    shown = block is not None and bool(block.head)
    return "copy" if shown and type(text.get("value")) is str and not text.get("annotations") else "near"


def apply_both(fast: MessageStream, general: MessageStream, content: Any) -> tuple[Any, ...]:
    """One update through `fast.apply` and `general.apply_general`: the same outcome, or AssertionError."""
    result = outcome(fast.apply, content)
    assert result == outcome(general.apply_general, copy.deepcopy(content)), content
    return result


def close_both(fast: MessageStream, general: MessageStream) -> None:
    assert outcome(fast.closing_events, "completed", 1) == outcome(general.closing_events, "completed", 1)


def two_streams(mode: TextMode) -> tuple[MessageStream, MessageStream]:
    snapshot = {"id": "msg_1", "object": "thread.message", "content": []}
    return (
        MessageStream(dict(snapshot), mode, annotation_to_openai),
        MessageStream(dict(snapshot), mode, annotation_to_openai),
    )


@pytest.mark.parametrize("mode", list(TextMode))
def test_message_single_item_branch_matches_the_loop(mode: TextMode) -> None:
    seen: Counter[str] = Counter()

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        dialect = data.draw(st.sampled_from(DIALECTS))
        fast, general = two_streams(mode)
        texts: Texts = {}
        for _ in range(data.draw(st.integers(1, 25))):
            content = draw_content(data, texts, dialect)
            seen[single_item(fast, content)] += 1
            if apply_both(fast, general, content)[0] == "raised":
                return
        close_both(fast, general)

    check()
    assert seen["copy"] >= 100 and seen["near"] >= 100, seen


FIXED_UPDATES = [  # shows block 0, then single items for it ("copy"), then for a block not shown ("near")
    text_item("ab"),
    text_item("c"),
    text_item("ab"),
    [{"id": "c1", "type": "text", "text": {"value": "x", "annotations": []}}],
    [{"type": "text", "text": {"value": "d", "annotations": [ANNOTATIONS[1]]}}],
    text_item("é"),
]


@pytest.mark.parametrize("mode", list(TextMode))
def test_message_fixed_updates_reach_the_branch(mode: TextMode) -> None:
    fast, general = two_streams(mode)
    seen: Counter[str] = Counter()
    for content in FIXED_UPDATES:
        seen[single_item(fast, content)] += 1
        apply_both(fast, general, content)
    close_both(fast, general)
    assert seen["copy"] >= 2 and seen["near"] >= 2, seen


def test_message_comparison_catches_a_planted_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_general = MessageStream.apply_general
    monkeypatch.setattr(
        MessageStream, "apply_general", lambda self, content: one_more_char(apply_general(self, content))
    )
    fast, general = two_streams(TextMode.INCREMENTAL)
    apply_both(fast, general, text_item("ab"))  # (a first piece goes the general way in both)
    with pytest.raises(AssertionError):
        apply_both(fast, general, text_item("c"))


# -- 4. TextAccumulator.push's fast append ------------------------------------------------------


def fast_append(acc: TextAccumulator, value: str) -> str:
    """Which way `push` goes: the fast append ("copy...") or one of the cases it must leave to `_take`."""
    if acc._mode != _INCREMENTAL:
        return "undecided or cumulative"
    if acc._held_equal is not None:
        return "holding a copy of the text"
    if not value:
        return "empty value"
    if len(value) == len(acc):
        return "copy, equal length" if acc._forced else "equal length"
    return "copy"


EDGES = ("the text so far", "the last value", "empty", "about as long as the text")


def push_both(fast: TextAccumulator, general: TextAccumulator, value: str) -> None:
    """One value through `fast.push` and `general.push_general`: the same piece and text, or
    AssertionError."""
    assert fast.push(value) == general.push_general(value), value
    assert (fast.text, len(fast)) == (general.text, len(general))


def finish_both(fast: TextAccumulator, general: TextAccumulator) -> None:
    assert fast.finish() == general.finish()
    assert (fast.text, len(fast)) == (general.text, len(general))


@pytest.mark.parametrize("mode", list(TextMode))
def test_push_fast_append_matches_take(mode: TextMode) -> None:
    seen: Counter[str] = Counter()

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        fast, general = TextAccumulator(mode), TextAccumulator(mode)
        dialect = data.draw(st.sampled_from(DIALECTS))
        texts: Texts = {}
        last = ""
        for _ in range(data.draw(st.integers(1, 30))):
            if len(fast) > 12 or data.draw(st.booleans()):  # (repeating the text doubles it: keep it short)
                value = draw_value(data, texts, None, dialect)
            else:  # a value chosen to sit on the fast append's guards: equal length, repeats, empty
                edge = data.draw(st.sampled_from(EDGES))
                value = {EDGES[0]: fast.text, EDGES[1]: last, EDGES[2]: ""}.get(edge, "")
                if edge == EDGES[3]:
                    size = len(fast)
                    value = data.draw(st.text(alphabet="ab", min_size=max(size - 1, 0), max_size=size + 1))
            seen[fast_append(fast, value)] += 1
            push_both(fast, general, value)
            last = value
        finish_both(fast, general)

    check()
    if mode is TextMode.CUMULATIVE:
        return  # a forced cumulative stream never reads values as pieces: the copy is never reached
    assert seen["copy"] >= 300, seen
    edges = ["empty value", "equal length", "holding a copy of the text"]
    if mode is TextMode.INCREMENTAL:
        edges = ["empty value", "copy, equal length"]
    assert all(seen[edge] >= 10 for edge in edges), seen


FIXED_VALUES = {  # values that reach the fast append and each case it leaves to `push_general`
    TextMode.AUTO: ["ab", "c", "de", "", "abcde", "f", "xy", "ab", "abc"],
    TextMode.INCREMENTAL: ["ab", "c", "", "abc", "d", "ef"],
}


@pytest.mark.parametrize("mode", list(FIXED_VALUES))
def test_push_fixed_values_reach_the_fast_append(mode: TextMode) -> None:
    fast, general = TextAccumulator(mode), TextAccumulator(mode)
    seen: Counter[str] = Counter()
    for value in FIXED_VALUES[mode]:
        seen[fast_append(fast, value)] += 1
        push_both(fast, general, value)
    finish_both(fast, general)
    edges = ["copy", "empty value"] + (["equal length"] if mode is TextMode.AUTO else ["copy, equal length"])
    assert all(seen[edge] for edge in edges), seen


def test_push_comparison_catches_a_planted_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    push_general = TextAccumulator.push_general
    monkeypatch.setattr(TextAccumulator, "push_general", lambda self, value: push_general(self, value) + "!")
    fast, general = TextAccumulator(TextMode.INCREMENTAL), TextAccumulator(TextMode.INCREMENTAL)
    with pytest.raises(AssertionError):
        push_both(fast, general, "ab")
