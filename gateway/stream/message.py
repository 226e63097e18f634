"""One assistant message being streamed: content items in -> `thread.message.*` events out.

Content items have OpenAI's shape (`{"type": "text", "text": {"value", "annotations"}}`, or an
`image_file`), their text values pieces or running totals as the stream's `TextMode` says. They are
keyed by their `id`, else their position; each text item gets the next OpenAI content index the
first time it has something to show, so indexes are contiguous from 0 with one index per block.
Text goes through `TextAccumulator`, so deltas are exact in every dialect. Annotations are
deduplicated by (type, text, start, end): a backend may repeat them on every update or send them
once at the end; `annotate` maps a backend's annotation to OpenAI's. Other item types are not carried.
Content whose values have JSON types the stream cannot read (an item id that is a list, annotations
that are a number, an image file id that is not a string) raises `UnreadableData`.

`apply` reads the usual update (one text piece for a block already shown) itself and hands every
other update to `apply_general`, the general path; the fast-path tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.schemas.status import MESSAGE_STAMP, MessageStatus
from gateway.stream.events import Event, StreamEvent, TextDelta, text_delta_head
from gateway.stream.text import TextAccumulator, TextMode

DELTA = "thread.message.delta"
Annotate = Callable[[dict[str, Any]], dict[str, Any]]
_new = tuple.__new__  # builds an Event without its Python-level __new__ (once per frame)


class UnreadableData(Exception):
    """An update has a value of a JSON type the stream cannot read (the message says which)."""


def _key(item: dict[str, Any], position: int) -> Any:
    """A content item's key: its id, else its position; an id must be a JSON scalar."""
    key = item.get("id") or position
    if type(key) is list or type(key) is dict:
        raise UnreadableData("a content item id is a list or an object")
    return key


class _Block:
    """One OpenAI content block: a text with its annotations, or an image file."""

    __slots__ = ("annotations", "head", "index", "seen", "text", "type")

    def __init__(self, type_: str, mode: TextMode) -> None:
        self.index = -1  # OpenAI content index, given when the block first shows something
        self.head = b""  # its `TextDelta.head`, made with the index
        self.type = type_
        self.text = TextAccumulator(mode)
        self.annotations: list[dict[str, Any]] = []
        self.seen: set[tuple[Any, ...]] = set()

    def new_annotations(self, raw: Any, annotate: Annotate) -> list[dict[str, Any]]:
        out = []
        if raw and type(raw) is not list and type(raw) is not str and type(raw) is not dict:
            raise UnreadableData("annotations are not a list")
        for ann in raw or ():
            if not isinstance(ann, dict):
                continue
            key = (ann.get("type"), ann.get("text"), ann.get("start_index"), ann.get("end_index"))
            if any(type(part) is list or type(part) is dict for part in key):
                raise UnreadableData("an annotation's type, text or offsets is a list or an object")
            if key in self.seen:
                continue
            self.seen.add(key)
            mapped = annotate(ann)
            out.append({"index": len(self.annotations), **mapped})
            self.annotations.append(mapped)
        return out


def _text_delta(entry: tuple[_Block, str]) -> dict[str, Any]:
    return {"index": entry[0].index, "type": "text", "text": {"value": entry[1]}}


class MessageStream:
    """State of the one open assistant message; `apply(frame)` returns its delta events."""

    __slots__ = ("_annotate", "_blocks", "_mode", "_shown", "_snapshot", "id")

    def __init__(self, snapshot: dict[str, Any], mode: TextMode, annotate: Annotate) -> None:
        self.id: str = snapshot["id"]
        self._snapshot = snapshot  # OpenAI Message fields; `content` is rebuilt at completion
        self._mode = mode
        self._annotate = annotate
        self._blocks: dict[Any, _Block] = {}  # content-item key -> block
        self._shown: list[_Block] = []  # blocks that have an index, in index order

    def opening_events(self) -> list[Event]:
        created = {**self._snapshot, "content": [], "status": "in_progress"}
        return [Event("thread.message.created", created), Event("thread.message.in_progress", created)]

    def apply(self, content: Any) -> list[StreamEvent]:
        """Diff one update's `content` against what was sent; at most one delta event (a
        pre-encoded `TextDelta` when the frame adds one text piece and nothing else). Runs once per
        frame of every stream: lookups are inlined and plain types checked exactly."""
        if (
            type(content) is list
            and len(content) == 1
            and type(item := content[0]) is dict
            and type(text := item.get("text")) is dict
        ):
            # The usual frame: one text item, of a block already shown, no annotations. Same result
            # as `apply_general`, with none of its bookkeeping.
            try:
                block = self._blocks.get(item.get("id") or 0)
            except TypeError:  # an id that cannot be a key: `apply_general` reports it
                block = None
            value = text.get("value")
            if block is not None and block.head and type(value) is str and not text.get("annotations"):
                piece = block.text.push(value)
                return [_new(TextDelta, (block.head, piece))] if piece else []
        return self.apply_general(content)

    def apply_general(self, content: Any) -> list[StreamEvent]:
        """The general path: `apply` without its single-item branch, every item of every update.
        `apply` takes it for every update that branch leaves; the fast-path tests and bench apply
        whole streams through it to compare."""
        if type(content) is not list:
            return []
        blocks = self._blocks
        deltas: list[dict[str, Any] | tuple[_Block, str]] = []  # (block, piece): a plain text piece
        for position, item in enumerate(content):
            if type(item) is not dict:
                continue
            text = item.get("text")
            if text is not None or item.get("type") == "text":
                key = _key(item, position)
                if type(text) is dict:
                    value = text.get("value")
                    raw_annotations = text.get("annotations")
                else:
                    value, raw_annotations = text, None
                block = blocks.get(key)
                if block is None:
                    block = blocks[key] = _Block("text", self._mode)
                piece = block.text.push(value if type(value) is str else "")
                anns = block.new_annotations(raw_annotations, self._annotate) if raw_annotations else None
                if block.index < 0 and (piece or anns):
                    self._index(block)
                if anns:
                    deltas.append(
                        {"index": block.index, "type": "text", "text": {"value": piece, "annotations": anns}}
                    )
                elif piece:
                    deltas.append((block, piece))
            elif item.get("type") == "image_file" and (key := _key(item, position)) not in blocks:
                image = item.get("image_file") or {}
                if type(image) is not dict:
                    raise UnreadableData("an image_file is not an object")
                file_id = image.get("file_id", "")
                if file_id and type(file_id) is not str:
                    raise UnreadableData("an image file id is not a string")
                block = blocks[key] = _Block("image_file", self._mode)
                block.text.push(file_id)
                deltas.append(
                    {
                        "index": self._index(block),
                        "type": "image_file",
                        "image_file": {"file_id": file_id, "detail": "auto"},
                    }
                )
        if not deltas:
            return []
        if len(deltas) == 1 and type(first := deltas[0]) is tuple:
            return [_new(TextDelta, (first[0].head, first[1]))]
        return [self._delta([_text_delta(d) if isinstance(d, tuple) else d for d in deltas])]

    def append_text(self, piece: str) -> TextDelta:
        """Append an exact, non-empty piece to the first text block, and return its delta event: for a
        backend that streams pieces rather than content items (its `TextMode` is `INCREMENTAL`)."""
        block = self._blocks.get(0)
        if block is None:
            block = self._blocks[0] = _Block("text", self._mode)
            self._index(block)
        block.text.push(piece)
        event: TextDelta = _new(TextDelta, (block.head, piece))
        return event

    def append_annotated(self, piece: str, annotations: list[dict[str, Any]]) -> StreamEvent:
        """`append_text` for a piece that completes annotations (OpenAI's shape, offsets into the text
        value): one delta carrying the piece and the annotations, each with its `index`."""
        if not annotations:
            return self.append_text(piece)
        block = self._blocks.get(0)
        if block is None:
            block = self._blocks[0] = _Block("text", self._mode)
            self._index(block)
        block.text.push(piece)
        anns = block.new_annotations(annotations, self._annotate)
        return self._delta(
            [{"index": block.index, "type": "text", "text": {"value": piece, "annotations": anns}}]
        )

    def closing_events(self, status: str, now: int, reason: str | None = None) -> list[Event]:
        """Settle held-back text, then `thread.message.completed` (or `.incomplete`) with full content."""
        deltas = []
        for block in self._blocks.values():
            if block.type == "text" and (piece := block.text.finish()):
                deltas.append({"index": self._index(block), "type": "text", "text": {"value": piece}})
        events = [self._delta(deltas)] if deltas else []
        final = {**self._snapshot, "content": self.content(), "status": status}
        final[MESSAGE_STAMP[status]] = now
        if status != MessageStatus.COMPLETED:
            final["incomplete_details"] = {"reason": reason or "run_failed"}
        events.append(Event(f"thread.message.{status}", final))
        return events

    def _index(self, block: _Block) -> int:
        if block.index < 0:
            block.index = len(self._shown)
            block.head = text_delta_head(self.id, block.index)
            self._shown.append(block)
        return block.index

    def _delta(self, content: list[dict[str, Any]]) -> Event:
        return Event(DELTA, {"id": self.id, "object": DELTA, "delta": {"content": content}})

    def content(self) -> list[dict[str, Any]]:
        """The content so far, in OpenAI's shape."""
        out: list[dict[str, Any]] = []
        for block in self._shown:
            if block.type == "image_file":
                out.append(
                    {"type": "image_file", "image_file": {"file_id": block.text.text, "detail": "auto"}}
                )
            else:
                out.append(
                    {"type": "text", "text": {"value": block.text.text, "annotations": block.annotations}}
                )
        return out
