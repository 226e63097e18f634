"""`RunStreamTranslator.on_frame`'s hot path gives exactly what `on_frame_general` gives, on random
MiniMax frame sequences, in both frame forms (the typed decoder's `MessageData` and dicts); so do the
stream core's inlined copies (`MessageStream.apply` vs `apply_general`, `TextAccumulator.push` vs
`push_general`) when they run inside the translator. The general paths are the production methods,
switched in for the reference run with `general_paths`. Hypothesis checks equality on random
sequences; a fixed sequence shows that every hot-path case is reached, and a planted difference in
`on_frame_general` that the comparison catches it.

Frames follow the helpers of `test_translator.py`; their content comes from the strategies of
`tests/stream/fast_path_cases.py`. Message ids come and go (present, absent, changing, not
strings), roles mix `ai` with `user` echoes, `completed` arrives mid-stream, and the odd run,
step or error frame moves the run out of `in_progress`.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.frames import Frame, MessageData, parse_frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.stream.message import MessageStream
from gateway.stream.text import TextAccumulator, TextMode
from tests.stream.fast_path_cases import (
    ABSENT,
    DIALECTS,
    SETTINGS,
    Texts,
    draw_content,
    one_more_char,
    outcome,
    text_item,
)

RUN, THREAD, ASST = "run_1", "thread_1", "asst_1"
KINDS = ("message",) * 12 + ("step", "run", "error")
# A step may carry a message's id ("msg_1"): MiniMax's ids are its own, and the open message must keep
# its frames even when a closed step had the same id.
MESSAGE_IDS = (ABSENT, "msg_1", "msg_1", "msg_1", "msg_2", None, "", 7)
ROLES = ("ai",) * 6 + ("user", ABSENT, "assistant")
STATUSES = (ABSENT,) * 6 + ("completed", "in_progress", None)
RUN_STATUSES = ("in_progress",) * 3 + ("queued", "started", "cancelling", "completed", "requires_action")
STEP_IDS = ("step_1", "step_1", "step_2", ABSENT, "msg_1")


def put(obj: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if value is not ABSENT:
        obj[key] = value
    return obj


def draw_frame(data: st.DataObject, texts: Texts, dialect: str) -> tuple[str, dict[str, Any]]:
    """One MiniMax frame: its kind and its `data` object (for `error`, its `base_resp`)."""
    kind = data.draw(st.sampled_from(KINDS))
    if kind == "error":
        return kind, {"status_code": data.draw(st.sampled_from([1002, 1004, 1027])), "status_msg": "no"}
    if kind == "run":
        status = data.draw(st.sampled_from(RUN_STATUSES))
        return kind, {"id": RUN, "object": "run", "thread_id": THREAD, "assistant_id": ASST, "status": status}
    if kind == "step":
        type_ = data.draw(st.sampled_from(["message_creation", "tool_calls"]))
        details: dict[str, Any] = {"type": type_, "tool_calls": []}
        if type_ == "message_creation":
            creation = put({}, "message_id", data.draw(st.sampled_from(MESSAGE_IDS)))
            details = {"type": type_, "message_creation": creation}
        step = {"object": "run step", "run_id": RUN, "type": type_, "step_details": details}
        put(step, "id", data.draw(st.sampled_from(STEP_IDS)))
        return kind, put(step, "status", data.draw(st.sampled_from(["in_progress", "completed", "failed"])))
    message_id = data.draw(st.sampled_from(MESSAGE_IDS))
    message: dict[str, Any] = {"object": data.draw(st.sampled_from(["message", "thread.message"]))}
    put(message, "id", message_id)
    put(message, "role", data.draw(st.sampled_from(ROLES)))
    put(message, "status", data.draw(st.sampled_from(STATUSES)))
    message.update(run_id=RUN, thread_id=THREAD)
    if data.draw(st.booleans()):
        message.update(created_at=1700000001, assistant_id=ASST, metadata={"k": "v"})
    scope = message_id if isinstance(message_id, str | int) else None
    return kind, put(message, "content", draw_content(data, texts, dialect, scope))


def as_frame(kind: str, obj: dict[str, Any], typed: bool) -> Frame:
    """The frame the bridge reads: decoded from the wire by `parse_frame`, or built as a dict frame."""
    if not typed:
        if kind == "error":
            return Frame("error", {"code": obj["status_code"], "message": obj["status_msg"]})
        return Frame(kind, copy.deepcopy(obj))  # type: ignore[arg-type]
    wire = {"base_resp": obj} if kind == "error" else {"data": obj, "base_resp": {}}
    frame = parse_frame(orjson.dumps(wire))
    assert frame is not None and frame.kind == kind, (wire, frame)
    assert (kind == "message") == isinstance(frame.data, MessageData)
    return frame


def make(cls: type[RunStreamTranslator], mode: TextMode) -> RunStreamTranslator:
    counter = itertools.count(1)
    seed = {"thread_id": THREAD, "assistant_id": ASST, "model": "abab6.5s-chat", "tools": [], "metadata": {}}
    return cls(seed, new_id=lambda p: f"{p}gen{next(counter)}", clock=lambda: 1700000000, text_mode=mode)


def hot_path(translator: RunStreamTranslator, frame: Frame) -> str:
    """Which way `on_frame` takes a frame: its hot path, or the general path ("near" when the
    message is open and the run in progress but the frame is for another message or the user)."""
    emitter, data = translator.emitter, frame.data
    if frame.kind != "message" or emitter.terminal or emitter.message is None:
        return "general"
    if emitter.run_status != "in_progress":
        return "general"
    message_id = data.get("id")
    if (message_id and message_id != emitter.message.id) or data.get("role") == "user":
        return "near"
    completed = " completing" if data.get("status") == "completed" else ""
    return f"hot ({'typed' if isinstance(data, MessageData) else 'dict'}){completed}"


def outputs(
    translator: RunStreamTranslator,
    frames: list[Frame],
    paths: AbstractContextManager[None],
    seen: Counter[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Each frame's outcome, then `finish()`'s, then what the translator reports after. `seen`
    counts which way each frame went."""
    out = []
    with paths:
        for frame in frames:
            if seen is not None:
                seen[hot_path(translator, frame)] += 1
            out.append(outcome(translator.on_frame, frame))
            if out[-1][0] == "raised":
                return out
        out.append(outcome(translator.finish))
    out.append((translator.terminal, translator.error_code))
    return out


PATHS = {  # a fast path -> the production method it hands other inputs to, switched in by name
    "translator": (RunStreamTranslator, "on_frame"),
    "message": (MessageStream, "apply"),
    "text": (TextAccumulator, "push"),
}


@contextmanager
def general_paths(*names: str) -> Iterator[None]:
    """While open, each named fast path is its general path (`on_frame` is `on_frame_general`, ...)."""
    with ExitStack() as stack:
        for name in names:
            cls, method = PATHS[name]
            stack.enter_context(patch.object(cls, method, getattr(cls, f"{method}_general")))
        yield


VARIANTS = {  # the copy checked -> the general paths switched in for the reference run
    "translator hot path": ("translator",),
    "MessageStream single item": ("message",),
    "TextAccumulator fast append": ("text",),
    "all three copies": ("translator", "message", "text"),
}


def compare(
    variant: str, mode: TextMode, drawn: list[tuple[str, dict[str, Any]]], seen: Counter[str] | None = None
) -> None:
    """The drawn frames through production and through the variant's general paths, in both frame
    forms: the same outcomes, or AssertionError."""
    for typed in (False, True):
        fast, slow = make(RunStreamTranslator, mode), make(RunStreamTranslator, mode)
        frames = [as_frame(kind, obj, typed) for kind, obj in drawn]
        copies = [as_frame(kind, obj, typed) for kind, obj in drawn]
        expected = outputs(slow, copies, general_paths(*VARIANTS[variant]))
        assert outputs(fast, frames, nullcontext(), seen) == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_frames_translate_the_same_with_and_without_the_copies(variant: str) -> None:
    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        mode, dialect = data.draw(st.sampled_from(list(TextMode))), data.draw(st.sampled_from(DIALECTS))
        texts: Texts = {}
        drawn = [draw_frame(data, texts, dialect) for _ in range(data.draw(st.integers(1, 30)))]
        compare(variant, mode, drawn)

    check()


def message_frame(value: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    message = {"object": "message", "id": "msg_1", "role": "ai", "run_id": RUN, "thread_id": THREAD}
    return "message", {**message, "content": text_item(value), **fields}


RUN_FRAME = {"id": RUN, "object": "run", "thread_id": THREAD, "assistant_id": ASST}
FIXED = [  # every way through on_frame: general, hot, hot completing, near (a user echo, another id)
    ("run", {**RUN_FRAME, "status": "in_progress"}),
    message_frame("Hel"),
    message_frame("lo"),
    message_frame("hi", role="user"),
    message_frame(" wörld", status="completed"),
    message_frame("Next", id="msg_3"),
    message_frame(" one", id="msg_3"),
    message_frame(".", id="msg_3", status="completed"),
    message_frame("Last", id="msg_4"),
    message_frame("?", id="msg_5"),
    ("run", {**RUN_FRAME, "status": "completed"}),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", list(TextMode))
def test_a_fixed_sequence_reaches_every_hot_path_case(variant: str, mode: TextMode) -> None:
    seen: Counter[str] = Counter()
    compare(variant, mode, FIXED, seen)
    hot = ["hot (dict)", "hot (typed)", "hot (dict) completing", "hot (typed) completing"]
    assert all(seen[key] >= 2 for key in hot) and seen["near"] >= 4, seen


def test_the_comparison_catches_a_planted_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    on_frame_general = RunStreamTranslator.on_frame_general
    monkeypatch.setattr(
        RunStreamTranslator,
        "on_frame_general",
        lambda self, frame: one_more_char(on_frame_general(self, frame)),
    )
    with pytest.raises(AssertionError):
        compare("translator hot path", TextMode.INCREMENTAL, FIXED)
