"""Decode MiniMax's chat-completion stream: one SSE `data:` payload per `feed()`, normalized deltas out.

Sans-IO (no IO, clock or randomness). Tolerates every variant of docs/minimax-chat.md ("Unknowns the
decoder tolerates") exactly:
- thinking inline in `content` (`<think>`, split anywhere: see `think.py` for the rules, including
  the opt-in `think_closer_only` for a `</think>` without opener) or in `reasoning_content` /
  `reasoning_details[].text`, each as pieces or running totals (`TextAccumulator` tells them apart).
  Both fields in one chunk carry the same thinking and count once. The first source of thinking to
  produce text (tags in `content`, or the fields) is the one emitted; the other is taken to repeat it
  (M3 sends both) and is only kept for replay (`raw_content`, `reasoning_details`).
- the final `object: "chat.completion"` chunk repeating the whole reply in `message`: a replacement.
  Only what strictly extends the streamed reply is emitted (text suffix, argument suffix, calls not
  streamed); anything else that disagrees keeps what was streamed and is noted in `mismatches`.
- the three endings (usage-only chunk then EOF, the final message, `[DONE]`), empty-role chunks with
  a zero placeholder usage (never overwrites a real one), `delta: null`, `choices: null`.
- tool calls keyed by `index`, else by `id`, else by position in a several-call list, else the latest
  call; a new non-empty id at an index already holding another id is a new call (servers that number
  every call 0). `ToolCallStart.index` is the call's position in the reply, in order of appearance.
Reasoning fields are read with `TextAccumulator`: a value that could be a piece or a running total is
held one chunk until the next one decides (`reasoning_mode` forces a reading when the model's is known).
Tool-call arguments are OpenAI-style pieces, appended as they come.
Order guarantees: reasoning is settled before the first answer text or tool call; `Finish` comes once,
after all content, when the stream ends (`[DONE]`, the final message, or `finish()`; a usage-only chunk
may still follow a final message); no `Text` piece holds thinking and no `Reasoning` piece answer text.
Per-chunk work is O(chunk): accumulated text is kept as pieces and joined only when read.

Most chunks of a reply carry one piece of answer text and nothing else. Once the answer is flowing
(the thinking settled, no `<think>` part held), such a chunk is read by `_answer_piece`: msgspec
decodes only the fields the decoder reads into typed structs, and the piece is taken as the general
path would take it. Any other chunk, or one msgspec cannot read, goes to the general path
(`feed_general`), which alone decides what is malformed. `tests/engine/test_chunks_fast_path.py`
drives random streams through `feed` and through `feed_general` alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

import msgspec
import orjson

from gateway.engine.think import ThinkSplitter
from gateway.stream.text import TextAccumulator, TextMode
from gateway.upstream.base_resp import code_number, failure_code


# Deltas are plain slotted records: a frozen dataclass's __init__ costs twice as much, once per chunk.
@dataclass(slots=True)
class Text:
    piece: str


@dataclass(slots=True)
class Reasoning:
    piece: str


@dataclass(slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(slots=True)
class ToolCallArgs:
    index: int
    piece: str


@dataclass(slots=True)
class Finish:
    reason: str


@dataclass(slots=True)
class Usage:
    data: dict[str, Any]


Delta: TypeAlias = Text | Reasoning | ToolCallStart | ToolCallArgs | Finish | Usage


# gc=False: a decoded chunk is a tree (JSON cannot make cycles), freed by its reference counts; the
# collector need not track it.
class _FastDelta(msgspec.Struct, gc=False):
    content: Any = None
    reasoning_content: Any = None
    reasoning_details: Any = None
    tool_calls: Any = None


class _FastChoice(msgspec.Struct, gc=False):
    index: Any = None
    delta: _FastDelta | None = None
    message: Any = None
    finish_reason: Any = None


class _FastChunk(msgspec.Struct, gc=False):
    """The fields of a chunk that decide whether it is a plain answer piece (the rest are skipped)."""

    choices: list[_FastChoice] | None = None
    usage: Any = None
    base_resp: Any = None
    error: Any = None
    type: Any = None  # (a `code` only counts in a chunk without `choices`: never read here)


_fast_decode = msgspec.json.Decoder(_FastChunk).decode


class ChatStreamError(Exception):
    """MiniMax reported an error (`base_resp.status_code`, `code`, or an OpenAI-style error object)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"MiniMax error {code}: {message}")
        self.code = code
        self.message = message


class MalformedChunk(Exception):
    """A payload that cannot be read (it may have carried text, so it is never skipped)."""

    def __init__(self, payload: bytes | str, reason: str) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        self.excerpt = text[:200]
        self.reason = reason
        super().__init__(f"malformed MiniMax chunk ({reason}): {self.excerpt!r}")


_ERROR_CODE = re.compile(r"\((\d{3,6})\)")


class _Call:
    __slots__ = ("args", "id", "index", "name", "started")

    def __init__(self, index: int, id_: str) -> None:
        self.index = index
        self.id = id_
        self.name = ""
        self.args: list[str] = []
        self.started = False


def _joined(parts: list[str]) -> str:
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


class ChatStreamDecoder:
    __slots__ = (
        "_by_id", "_by_index", "_calls", "_closed", "_content", "_details_meta", "_done", "_eof",
        "_fields_acc", "_final", "_finish_reason", "_mismatches", "_raw", "_reasoning", "_reasoning_open",
        "_source", "_think", "_usage", "_usage_real",
    )  # fmt: skip

    def __init__(self, *, think_closer_only: bool = False, reasoning_mode: TextMode = TextMode.AUTO) -> None:
        self._think = ThinkSplitter(think_closer_only)
        self._raw: list[str] = []
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._fields_acc = TextAccumulator(reasoning_mode)  # reasoning_content, else reasoning_details[].text
        self._details_meta: dict[str, Any] | None = None
        self._source = 0  # which thinking is emitted: 0 none yet, 1 `<think>` in content, 2 the fields
        self._reasoning_open = True
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._by_id: dict[str, _Call] = {}
        self._done = self._final = self._closed = self._eof = self._usage_real = False
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._mismatches: list[str] = []

    # -- accumulated state ---------------------------------------------------------------------------
    @property
    def content(self) -> str:
        """The answer text: exactly the concatenation of the `Text` pieces."""
        return _joined(self._content)

    @property
    def reasoning(self) -> str:
        """The thinking: exactly the concatenation of the `Reasoning` pieces."""
        return _joined(self._reasoning)

    @property
    def raw_content(self) -> str:
        """`content` as MiniMax sent it, `<think>` part included: what to send back when replaying."""
        return _joined(self._raw)

    @property
    def reasoning_details(self) -> list[dict[str, Any]] | None:
        if self._details_meta is None:
            return None
        text = self.reasoning if self._source == 2 else self._fields_acc.text
        return [{**self._details_meta, "index": 0, "text": text}]

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _joined(c.args)}}
            for c in self._calls
        ]

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    @property
    def usage(self) -> dict[str, Any] | None:
        """The last real usage; the zero placeholder of empty-role chunks only if nothing else came."""
        return self._usage

    @property
    def done(self) -> bool:
        """`[DONE]` or the final message was seen (after a usage-only ending it stays False)."""
        return self._done or self._final

    @property
    def mismatches(self) -> tuple[str, ...]:
        """How the final message disagreed with what was streamed (the streamed version was kept)."""
        return tuple(self._mismatches)

    @property
    def mismatch(self) -> bool:
        return bool(self._mismatches)

    @property
    def unopened_closer(self) -> bool:
        """A `</think>` appeared in an answer with no opener: this model may need `think_closer_only`."""
        return self._think.unopened_closer

    # -- input ---------------------------------------------------------------------------------------
    def feed(self, payload: bytes) -> list[Delta]:
        """Decode one `data:` payload; return the deltas it yields, in order."""
        piece = self.answer(payload)
        if piece is not None:
            return [Text(piece)]
        return self.feed_general(payload)

    def answer(self, payload: bytes) -> str | None:
        """The fast path: if `payload` is one plain piece of answer text (and the answer flows), that
        piece, taken as `feed` takes it (`feed` would return `[Text(piece)]`); else None, nothing taken:
        give the payload to `feed`, whose general path alone decides what is malformed."""
        if self._done or self._eof or self._reasoning_open or self._final or not self._think.answering:
            return None
        try:
            piece = _answer_piece(_fast_decode(payload))
        except msgspec.MsgspecError:
            return None
        if piece is not None:
            self._raw.append(piece)
            self._think.feed(piece)  # ("", piece) in the answer: it only watches for a stray closer
            self._content.append(piece)
        return piece

    def feed_general(self, payload: bytes) -> list[Delta]:
        """The general path: `feed` without its fast path (`answer`), every field of every kind of
        chunk. `feed` takes it for each chunk `answer` declines; the fast-path tests and bench feed
        whole streams through it to compare."""
        if self._done or self._eof:
            raise MalformedChunk(payload, "data after the end of the stream")
        out: list[Delta] = []
        if len(payload) < 16 and payload.strip() == b"[DONE]":
            self._done = True
            self._close(out)
            return out
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise MalformedChunk(payload, "not JSON") from None
        if type(obj) is not dict:
            raise MalformedChunk(payload, "not a JSON object")
        _check_error(obj, payload)
        choices = obj.get("choices")
        if choices is not None:
            if type(choices) is not list:
                raise MalformedChunk(payload, "choices is not a list")
            if choices and self._final:
                raise MalformedChunk(payload, "choices after the final message")
            for choice in choices:
                self._choice(choice, out, payload)
        usage = obj.get("usage")
        if usage is not None:
            self._take_usage(usage, out, payload)
        if self._final:
            self._close(out)
        return out

    def finish(self) -> list[Delta]:
        """The body ended (EOF): release everything held back; emits `Finish` if not done yet."""
        out: list[Delta] = []
        self._eof = True
        self._close(out)
        return out

    # -- chunk parts ---------------------------------------------------------------------------------
    def _choice(self, choice: Any, out: list[Delta], payload: bytes) -> None:
        if type(choice) is not dict:
            raise MalformedChunk(payload, "a choice is not an object")
        if choice.get("index") not in (0, None):
            raise MalformedChunk(payload, "a second choice (only n=1 is read)")
        message = choice.get("message")
        if message is not None:
            if type(message) is not dict:
                raise MalformedChunk(payload, "message is not an object")
            self._final = True
            self._final_message(message, out, payload)
        else:
            delta = choice.get("delta")
            if delta is not None:
                if type(delta) is not dict:
                    raise MalformedChunk(payload, "delta is not an object")
                self._delta(delta, out, payload)
        reason = choice.get("finish_reason")
        if reason:
            if type(reason) is not str:
                raise MalformedChunk(payload, "finish_reason is not a string")
            self._finish_reason = reason
            self._end_content(out)

    def _delta(self, delta: dict[str, Any], out: list[Delta], payload: bytes) -> None:
        rc = _text(delta.get("reasoning_content"), payload)
        rd = self._details_text(delta.get("reasoning_details"), payload)
        if rc or rd:  # both in one chunk: the same thinking, counted once
            self._fields(rc or rd, out)
        content = _text(delta.get("content"), payload)
        if content:
            self._raw.append(content)
            self._split(self._think.feed(content), out)
        calls = delta.get("tool_calls")
        if calls:
            if type(calls) is not list:
                raise MalformedChunk(payload, "tool_calls is not a list")
            self._tool_calls(calls, out, payload)

    def _details_text(self, details: Any, payload: bytes) -> str:
        if details is None:
            return ""
        if type(details) is not list:
            raise MalformedChunk(payload, "reasoning_details is not a list")
        parts = []
        for entry in details:
            if type(entry) is not dict:
                raise MalformedChunk(payload, "a reasoning_details entry is not an object")
            if self._details_meta is None:
                meta = {"type": entry.get("type", "reasoning.text")}
                self._details_meta = meta | {"id": entry.get("id"), "format": entry.get("format")}
            parts.append(_text(entry.get("text"), payload))
        return "".join(parts)

    def _fields(self, value: str, out: list[Delta]) -> None:
        """A reasoning field value (piece or running total); `""` settles a value held back."""
        new = self._fields_acc.push(value) if value else self._fields_acc.finish()
        if value and self._source == 0:
            self._source = 2
        if new and self._source == 2:
            self._emit_reasoning(new, out)

    def _emit_reasoning(self, piece: str, out: list[Delta]) -> None:
        self._reasoning.append(piece)
        out.append(Reasoning(piece))

    def _split(self, parts: tuple[str, str], out: list[Delta]) -> None:
        reasoning, text = parts
        if reasoning:
            if self._source == 0:
                self._source = 1
            if self._source == 1:
                self._emit_reasoning(reasoning, out)
        if text:
            self._end_reasoning(out)
            self._content.append(text)
            out.append(Text(text))

    def _end_reasoning(self, out: list[Delta]) -> None:
        if self._reasoning_open:
            self._reasoning_open = False
            self._fields("", out)

    def _end_content(self, out: list[Delta]) -> None:
        """The content ended (finish_reason, end of stream): release what is held, start pending calls."""
        self._split(self._think.flush(), out)
        self._reasoning_open = True
        self._end_reasoning(out)
        for call in self._calls:
            if not call.started:  # id or name never arrived: start it with what there is
                self._start(call, out)

    def _tool_calls(self, calls: list[Any], out: list[Delta], payload: bytes) -> None:
        self._split(self._think.settle(), out)
        self._end_reasoning(out)
        for pos, item in enumerate(calls):
            if type(item) is not dict:
                raise MalformedChunk(payload, "a tool call is not an object")
            call = self._call_for(item, pos, len(calls) > 1, payload)
            fn = item.get("function")
            if fn is None:
                fn = {}
            elif type(fn) is not dict:
                raise MalformedChunk(payload, "tool call function is not an object")
            name = _text(fn.get("name"), payload)
            if name and name != call.name:
                if not call.started:
                    call.name += name  # a name sent in pieces
                else:
                    self._mismatches.append(f"tool call {call.index} renamed to {name!r}")
            args = _text(fn.get("arguments"), payload)
            if args:
                call.args.append(args)
            if call.started:
                if args:
                    out.append(ToolCallArgs(call.index, args))
            elif call.id and call.name:
                self._start(call, out)

    def _call_for(self, item: dict[str, Any], pos: int, several: bool, payload: bytes) -> _Call:
        index = item.get("index")
        if index is not None and type(index) is not int:
            raise MalformedChunk(payload, "tool call index is not an integer")
        cid = _text(item.get("id"), payload)
        call: _Call | None
        if index is not None:
            call = self._by_index.get(index)
            if call is not None and cid and call.id and cid != call.id:
                call = None
        elif cid:
            call = self._by_id.get(cid)
        elif several:
            call = self._calls[pos] if pos < len(self._calls) else None
        else:
            call = self._calls[-1] if self._calls else None
        if call is None:
            call = _Call(len(self._calls), cid)
            self._calls.append(call)
        elif cid and not call.id:
            call.id = cid
        if index is not None:
            self._by_index[index] = call
        if cid:
            self._by_id.setdefault(cid, call)
        return call

    def _start(self, call: _Call, out: list[Delta]) -> None:
        call.started = True
        out.append(ToolCallStart(call.index, call.id, call.name))
        if call.args:
            out.append(ToolCallArgs(call.index, _joined(call.args)))

    def _final_message(self, message: dict[str, Any], out: list[Delta], payload: bytes) -> None:
        """The whole reply again: settle, then emit only what strictly extends what was streamed."""
        self._end_content(out)
        full = _text(message.get("reasoning_content"), payload) or self._details_text(
            message.get("reasoning_details"), payload
        )
        if full and self._source != 1:
            streamed = self.reasoning
            if full.startswith(streamed):
                if len(full) > len(streamed):
                    self._source = 2
                    self._emit_reasoning(full[len(streamed) :], out)
            else:
                self._mismatches.append("reasoning differs from the streamed reasoning")
        content = message.get("content")
        if content is not None:
            self._final_content(_text(content, payload), out)
        calls = message.get("tool_calls")
        if calls is not None:
            if type(calls) is not list:
                raise MalformedChunk(payload, "message.tool_calls is not a list")
            self._final_calls(calls, out, payload)

    def _final_content(self, content: str, out: list[Delta]) -> None:
        raw, answer = self.raw_content, self.content
        if content.startswith(raw):
            if len(content) > len(raw):
                self._raw.append(content[len(raw) :])
                self._split(self._think.feed(content[len(raw) :]), out)
                self._split(self._think.flush(), out)
        elif content.startswith(answer) and raw.endswith(answer):  # the reply without its `<think>` part
            if len(content) > len(answer):
                self._raw.append(content[len(answer) :])
                self._split(("", content[len(answer) :]), out)
        else:
            self._mismatches.append("content differs from the streamed content")

    def _final_calls(self, calls: list[Any], out: list[Delta], payload: bytes) -> None:
        if len(calls) < len(self._calls):
            self._mismatches.append("fewer tool calls than streamed")
        for pos, item in enumerate(calls):
            if type(item) is not dict or type(item.get("function", {})) is not dict:
                raise MalformedChunk(payload, "a message tool call is not an object")
            cid = _text(item.get("id"), payload)
            fn = item.get("function", {})
            name, args = _text(fn.get("name"), payload), _text(fn.get("arguments"), payload)
            call = self._by_id.get(cid) if cid else None
            if call is None and pos < len(self._calls) and (not cid or not self._calls[pos].id):
                call = self._calls[pos]
            if call is None:
                call = _Call(len(self._calls), cid)
                call.name = name
                if args:
                    call.args.append(args)
                self._calls.append(call)
                self._start(call, out)
                continue
            if cid and not call.id:
                call.id = cid  # for the replay; the client saw the call start without one
            if name and name != call.name:
                self._mismatches.append(f"tool call {call.index} is named {name!r} in the final message")
            streamed = _joined(call.args)
            if args.startswith(streamed):
                if len(args) > len(streamed):
                    call.args.append(args[len(streamed) :])
                    out.append(ToolCallArgs(call.index, args[len(streamed) :]))
            else:
                self._mismatches.append(f"tool call {call.index} arguments differ from the streamed ones")

    def _take_usage(self, usage: Any, out: list[Delta], payload: bytes) -> None:
        if type(usage) is not dict:
            raise MalformedChunk(payload, "usage is not an object")
        if _is_placeholder(usage):  # the zeros of empty-role chunks: only if nothing better is known
            if self._usage is None:
                self._usage = usage
        elif not self._usage_real or usage != self._usage:
            self._usage, self._usage_real = usage, True
            out.append(Usage(usage))

    def _close(self, out: list[Delta]) -> None:
        if not self._closed:
            self._closed = True
            self._end_content(out)
            if self._finish_reason is not None:
                out.append(Finish(self._finish_reason))


def _answer_piece(chunk: _FastChunk) -> str | None:
    """The text of a chunk that carries one piece of answer text and nothing else, else None."""
    if (
        chunk.usage is not None
        or chunk.base_resp is not None
        or chunk.error is not None
        or chunk.type is not None
    ):
        return None
    choices = chunk.choices
    if choices is None or len(choices) != 1:
        return None
    choice = choices[0]
    delta = choice.delta
    if (
        delta is None
        or choice.message is not None
        or choice.finish_reason is not None
        or choice.index not in (0, None)
        or delta.reasoning_content is not None
        or delta.reasoning_details is not None
        or delta.tool_calls is not None
    ):
        return None
    content = delta.content
    return content if type(content) is str and content else None


def _text(value: Any, payload: bytes) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise MalformedChunk(payload, "a text field is not a string")
    return value


def _is_placeholder(value: Any, depth: int = 0) -> bool:
    """A usage object of zeros (empty-role chunks carry one); deeper than usage goes is not one."""
    if isinstance(value, dict):
        return depth < 4 and all(_is_placeholder(v, depth + 1) for v in value.values())
    return not value


def _check_error(obj: dict[str, Any], payload: bytes) -> None:
    base = obj.get("base_resp")
    if base is not None:
        if type(base) is not dict:
            raise MalformedChunk(payload, "base_resp is not an object")
        if (number := failure_code(base)) is not None:
            raise ChatStreamError(number, str(base.get("status_msg") or base.get("message") or "")[:500])
    if "choices" not in obj:
        _raise_if_code(obj.get("code"), obj.get("msg") or obj.get("message"))
    error = obj.get("error")
    if error is not None or obj.get("type") == "error":
        message = error.get("message") if isinstance(error, dict) else error
        message = message if isinstance(message, str) else orjson.dumps(error).decode()
        found = _ERROR_CODE.search(message)
        raise ChatStreamError(int(found.group(1)) if found else 1000, message[:500])


def _raise_if_code(code: Any, message: Any) -> None:
    if (number := code_number(code)) is not None:
        raise ChatStreamError(number, str(message or "")[:500])
