"""The general paths that the hot path's inlined copies stand in for, as references.

Each reference is the production code with its inlined copy left out, so only the general path runs;
the property tests (`tests/stream/test_fast_paths.py`, `tests/bridge/test_fast_path.py`,
`tests/engine/test_chunks_fast_path.py`) check that copy and reference give identical output, and
`tests.bench.fast_paths` times both. A reference must follow the production method it copies: when
that changes, change this too (the property tests then fail until it does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gateway.stream.emitter
import gateway.stream.message
from gateway.bridge.frames import Frame
from gateway.bridge.translator import RunStreamTranslator, last_error_code
from gateway.engine.chunks import ChatStreamDecoder, Delta, MalformedChunk
from gateway.stream.events import StreamEvent, TextDelta
from gateway.stream.message import MessageStream, _Block, _text_delta
from gateway.stream.text import TextAccumulator

_new = tuple.__new__


class GeneralDecoder(ChatStreamDecoder):
    """`ChatStreamDecoder` whose `feed` takes the general path for every chunk (no `_answer_piece`)."""

    __slots__ = ()

    def feed(self, payload: bytes) -> list[Delta]:
        if self._done or self._eof:
            raise MalformedChunk(payload, "data after the end of the stream")
        return self._feed(payload)


class GeneralTranslator(RunStreamTranslator):
    """`RunStreamTranslator` whose `on_frame` takes `_start` + `_on_message` for every message frame."""

    __slots__ = ()

    def on_frame(self, frame: Frame) -> list[StreamEvent]:
        emitter = self.emitter
        if emitter.terminal:
            return []
        kind, data = frame
        events: list[StreamEvent] = []
        if isinstance(data, dict) and kind != "message":
            if kind == "error":
                code = self.error_code = data.get("code", 0)
                return self.fail(
                    last_error_code(code) if isinstance(code, int) else "server_error",
                    f"MiniMax error {code}: {data.get('message', '')}",
                )
            self._start(data, run_frame=kind == "run", events=events)
            if kind == "run":
                self._on_run(data, events)
            else:
                self._on_step(data, events)
            return events
        self._start(data, run_frame=False, events=events)
        self._on_message(data, events)
        return events


class GeneralMessageStream(MessageStream):
    """`MessageStream` whose `apply` always runs the loop (no single-item branch)."""

    __slots__ = ()

    def apply(self, content: Any) -> list[StreamEvent]:
        if type(content) is not list:
            return []
        blocks = self._blocks
        deltas: list[dict[str, Any] | tuple[_Block, str]] = []
        for position, item in enumerate(content):
            if type(item) is not dict:
                continue
            key = item.get("id") or position
            text = item.get("text")
            if text is not None or item.get("type") == "text":
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
            elif item.get("type") == "image_file" and key not in blocks:
                block = blocks[key] = _Block("image_file", self._mode)
                file_id = (item.get("image_file") or {}).get("file_id", "")
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


class GeneralAccumulator(TextAccumulator):
    """`TextAccumulator` whose `push` always goes through `_take` / `_resolve_held`."""

    __slots__ = ()

    def push(self, value: str) -> str:
        if self._held_ext is None and self._held_equal is None:
            return self._take(value)
        if value == self._held_equal:
            return ""
        out = self._resolve_held(value)
        return out + self._take(value)


@contextmanager
def general_paths(*, message: bool = False, text: bool = False) -> Iterator[None]:
    """While open, messages the emitter opens are `GeneralMessageStream`s (`message`) and their
    text blocks accumulate with `GeneralAccumulator` (`text`); production code is left as it is."""
    saved = gateway.stream.emitter.MessageStream, gateway.stream.message.TextAccumulator
    if message:
        gateway.stream.emitter.MessageStream = GeneralMessageStream  # type: ignore[misc]
    if text:
        gateway.stream.message.TextAccumulator = GeneralAccumulator  # type: ignore[misc]
    try:
        yield
    finally:
        gateway.stream.emitter.MessageStream, gateway.stream.message.TextAccumulator = saved  # type: ignore[misc]
