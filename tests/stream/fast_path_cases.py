"""The inputs and comparison helpers both fast-path property tests share: `test_fast_paths.py` (the
stream core's inlined copies) and `tests/bridge/test_fast_path.py` (the translator's hot path, on MiniMax
frames built from these strategies).

The content strategies draw message `content` the way MiniMax and OpenAI shape it, in each text
dialect, with the odd malformed item; `outcome` is what a caller sees of a call, so a fast path and its
general path can be compared; `one_more_char` plants a difference the comparisons must catch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from gateway.stream.events import StreamEvent, TextDelta
from gateway.stream.sse import encode_into

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ABSENT = object()  # a key left out of the dict
ALPHABET = "ab é🌍"  # few letters, so repeats, prefixes and equal lengths are frequent
PIECE = st.text(alphabet=ALPHABET, max_size=4)
DIALECTS = ("incremental", "cumulative", "incremental_final", "mixed")
ACTIONS = {  # how a text item's next value relates to its text so far, weighted per dialect
    "incremental": ("piece",) * 8 + ("snapshot", "total", "random", "empty"),
    "cumulative": ("total",) * 8 + ("snapshot", "piece", "random", "empty"),
    "incremental_final": ("piece",) * 6 + ("snapshot",) * 2 + ("random",),
    "mixed": ("piece", "total", "snapshot", "random", "empty"),
}
ANNOTATIONS = (
    {"type": "web_citation", "text": "【1†source】", "start_index": 0, "end_index": 9,
     "web_citation": {"url": "https://example.com", "quote": "q"}},
    {"type": "file_path", "text": "f", "start_index": 1, "end_index": 2, "file_path": {"file_id": "file_1"}},
)  # fmt: skip
ITEM_KINDS = ("text",) * 8 + ("text_str", "text_none", "no_value", "nonstr_value", "image", "nondict")
ITEM_IDS = (ABSENT,) * 4 + ("c1", "c2", None, "", 0, 1)
Texts = dict[Any, str]  # what upstream has sent so far, per text item


def draw_value(data: st.DataObject, texts: Texts, key: Any, dialect: str) -> str:
    """The next text value of one item, in the dialect (with the odd value from another)."""
    action = data.draw(st.sampled_from(ACTIONS[dialect]))
    if action in ("piece", "total"):
        piece = data.draw(PIECE)
        texts[key] = texts.get(key, "") + piece
        return piece if action == "piece" else texts[key]
    if action == "snapshot":
        return texts.get(key, "")
    return "" if action == "empty" else data.draw(PIECE)


def draw_item(data: st.DataObject, texts: Texts, position: int, dialect: str, scope: Any = None) -> Any:
    """One content item as MiniMax and OpenAI shape it, or something malformed."""
    kind = data.draw(st.sampled_from(ITEM_KINDS))
    if kind == "nondict":
        return data.draw(st.sampled_from(["text", 3, None, ["x"]]))
    item_id = data.draw(st.sampled_from(ITEM_IDS))
    item: dict[str, Any] = {} if item_id is ABSENT else {"id": item_id}
    if kind == "image":
        return {**item, "type": "image_file", "image_file": {"file_id": data.draw(st.sampled_from("xy"))}}
    item["type"] = "text"
    key = (scope, item_id if item_id else position)
    if kind == "text_str":
        item["text"] = draw_value(data, texts, key, dialect)
    elif kind == "text_none":
        item["text"] = None
    else:
        text: dict[str, Any] = {}
        if kind == "nonstr_value":
            text["value"] = data.draw(st.sampled_from([None, 5, ["a"], {"v": "a"}]))
        elif kind == "text":
            text["value"] = draw_value(data, texts, key, dialect)
        annotations = data.draw(
            st.sampled_from((ABSENT,) * 4 + ([], None, "junk", *([a] for a in ANNOTATIONS)))
        )
        if annotations is not ABSENT:
            text["annotations"] = annotations
        item["text"] = text
    return item


def draw_content(data: st.DataObject, texts: Texts, dialect: str, scope: Any = None) -> Any:
    """A message update's `content`: mostly a list of 0-3 items (1 most often), sometimes not a list."""
    shape = data.draw(st.sampled_from(("list",) * 9 + ("none", "str", "dict")))
    if shape != "list":
        return {"none": None, "str": "text", "dict": {"type": "text"}}[shape]
    count = data.draw(st.sampled_from((1,) * 6 + (0, 2, 2, 3)))
    return [draw_item(data, texts, position, dialect, scope) for position in range(count)]


def outcome(call: Callable[..., Sequence[StreamEvent]], *args: Any) -> tuple[Any, ...]:
    """What a caller sees of `call(*args)`: each event (type and value) and its SSE bytes, or the error."""
    try:
        out = call(*args)
    except Exception as exc:  # the same malformed input must fail the same way on both paths
        return ("raised", type(exc), str(exc))
    return ("ok", [(type(e), e) for e in out], b"".join(encode_into(out, [])))


def text_item(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": []}}]


def one_more_char(events: list[StreamEvent]) -> list[StreamEvent]:
    """A planted difference: each text piece one character longer."""
    return [TextDelta(e.head, e.piece + "!") if type(e) is TextDelta else e for e in events]
