"""`RunStreamTranslator.on_frame`'s hot path gives exactly what `_start` + `_on_message` give, on
random MiniMax frame sequences, in both frame forms (the typed decoder's `MessageData` and dicts);
so do the stream core's inlined copies when they run inside the translator.

Frames follow the helpers of `test_translator.py`; their content comes from the strategies of
`tests/stream/test_fast_paths.py`. Message ids come and go (present, absent, changing, not
strings), roles mix `ai` with `user` echoes, `completed` arrives mid-stream, and the odd run,
step or error frame moves the run out of `in_progress`.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.frames import Frame, MessageData, parse_frame
from gateway.bridge.translator import RunStreamTranslator
from gateway.stream.text import TextMode
from tests.bench.fast_path_refs import GeneralTranslator, general_paths
from tests.stream.test_fast_paths import ABSENT, DIALECTS, SETTINGS, Texts, draw_content, outcome

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


VARIANTS = {  # the copy checked -> (reference translator, other copies left out with it)
    "translator hot path": (GeneralTranslator, {}),
    "MessageStream single item": (RunStreamTranslator, {"message": True}),
    "TextAccumulator fast append": (RunStreamTranslator, {"text": True}),
    "all three copies": (GeneralTranslator, {"message": True, "text": True}),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_frames_translate_the_same_with_and_without_the_copies(variant: str) -> None:
    reference, general = VARIANTS[variant]
    seen: Counter[str] = Counter()

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        mode, dialect = data.draw(st.sampled_from(list(TextMode))), data.draw(st.sampled_from(DIALECTS))
        texts: Texts = {}
        drawn = [draw_frame(data, texts, dialect) for _ in range(data.draw(st.integers(1, 30)))]
        for typed in (False, True):
            fast, slow = make(RunStreamTranslator, mode), make(reference, mode)
            frames = [as_frame(kind, obj, typed) for kind, obj in drawn]
            copies = [as_frame(kind, obj, typed) for kind, obj in drawn]
            expected = outputs(slow, copies, general_paths(**general))
            assert outputs(fast, frames, nullcontext(), seen) == expected

    check()
    hot = [key for key in seen if key.startswith("hot")]
    assert len(hot) == 4 and min(seen[key] for key in hot) >= 10 and seen["near"] >= 20, seen
