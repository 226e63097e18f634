"""A ChatReply as MiniMax chat-completions JSON under the configured dialect: the chunk sequence, the
whole-reply `chat.completion` object (final-message ending and non-streamed answer) and error chunks.

Chunk order: [reasoning chunks (split, both)], content chunks (think part per dialect, then the text),
tool-call chunks, then `{"finish_reason":"tool_calls","delta":{}}` for tool replies (for stop/length the
finish rides on the last content or reasoning chunk), then the ending. Empty-role chunks, when on, come
first and after every fourth delta chunk. The shapes: (docs/minimax-chat.md, "Chunk shapes"),
(docs/minimax-chat.md, "Reasoning") and (docs/minimax-chat.md, "Tool-call deltas").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from gateway.emulator.chat.model import ChatReply, ToolCall
from gateway.emulator.chat.request import ChatRequest
from gateway.emulator.config import EmulatorConfig

JSON = dict[str, Any]
Chunk = JSON | bytes  # bytes: a raw data payload (`[DONE]`)
DONE = b"[DONE]"
OPENER, CLOSER = "<think>\n", "\n</think>\n\n"
SPEAKER: JSON = {"role": "assistant", "name": "MiniMax AI", "audio_content": ""}
SENSITIVE: JSON = {
    "input_sensitive": False,
    "output_sensitive": False,
    "input_sensitive_type": 0,
    "output_sensitive_type": 0,
    "output_sensitive_int": 0,
}
OK_RESP: JSON = {"status_code": 0, "status_msg": ""}
Layout = Literal["inline", "split", "both", "closer_only"]


def layout(config: EmulatorConfig, req: ChatRequest) -> Layout:
    """Where the thinking goes: `split` needs the request's `reasoning_split`, else it is inline."""
    if config.chat_thinking == "split" and not req.reasoning_split:
        return "inline"
    return config.chat_thinking


def content_text(mode: Layout, reply: ChatReply) -> tuple[str, list[int]]:
    """The whole `content` and offsets where a chunk must end (inside each think tag)."""
    if mode == "split":
        return reply.text, []
    text, cuts = (OPENER, [4]) if mode != "closer_only" else ("", [])
    text += reply.reasoning
    if reply.thinking_done:
        cuts.append(len(text) + 5)  # "\n</th" | "ink>\n\n"
        text += CLOSER + reply.text
    return text, cuts


def pieces(text: str, size: int, cuts: Iterable[int] = ()) -> list[tuple[int, int]]:
    """(start, end) spans of `size` characters, also ending at each of `cuts`."""
    ends = sorted({*range(size, len(text), size), *(c for c in cuts if 0 < c < len(text)), len(text)})
    return [(start, end) for start, end in zip([0, *ends], ends, strict=False) if end > start]


def reasoning_detail(text: str) -> JSON:
    return {
        "type": "reasoning.text",
        "id": "reasoning-text-1",
        "format": "MiniMax-response-v1",
        "index": 0,
        "text": text,
    }


def tool_call_json(call: ToolCall) -> JSON:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


class ChunkMaker:
    def __init__(
        self, config: EmulatorConfig, req: ChatRequest, reply: ChatReply, chunk_id: str, created: int
    ) -> None:
        self.config, self.req, self.reply = config, req, reply
        self.id, self.created = chunk_id, created
        self.mode = layout(config, req)

    def _head(self, obj: str = "chat.completion.chunk") -> JSON:
        return {"id": self.id, "choices": [], "created": self.created, "model": self.req.model, "object": obj}

    def chunk(self, choices: list[JSON], **extra: Any) -> JSON:
        return {**self._head(), "choices": choices, "usage": None, **SENSITIVE, **extra}

    def _reasoning_deltas(self) -> list[JSON]:
        r, size = self.reply.reasoning, self.config.chars_per_chunk
        cumulative = self.config.chat_reasoning == "cumulative"
        out = []
        for start, end in pieces(r, size):
            value = r[:end] if cumulative else r[start:end]
            out.append(
                {**SPEAKER, "reasoning_content": value, "reasoning_details": [reasoning_detail(value)]}
            )
        return out

    def _tool_deltas(self) -> list[JSON]:
        out = []
        for index, call in enumerate(self.reply.tool_calls):
            spans = [(0, len(call.arguments))] if self.config.chat_tool_args == "whole" else None
            for start, end in spans or pieces(call.arguments, self.config.chars_per_chunk):
                piece = call.arguments[start:end]
                if start == 0:
                    item = {"index": index, **tool_call_json(call)}
                    item["function"] = {"name": call.name, "arguments": piece}
                else:
                    item = {"index": index, "id": "", "type": "function", "function": {"arguments": piece}}
                out.append({**SPEAKER, "tool_calls": [item]})
        return out

    def chunks(self) -> list[Chunk]:
        """Every event of the stream, in order."""
        deltas = self._reasoning_deltas() if self.mode in ("split", "both") else []
        text, cuts = content_text(self.mode, self.reply)
        deltas += [
            {"content": text[s:e], **SPEAKER} for s, e in pieces(text, self.config.chars_per_chunk, cuts)
        ]
        choices: list[JSON] = [{"index": 0, "delta": d} for d in deltas]
        if self.reply.finish_reason == "tool_calls":
            choices += [{"index": 0, "delta": d} for d in self._tool_deltas()]
            choices.append({"finish_reason": "tool_calls", "index": 0, "delta": {}})
        elif choices:
            choices[-1] = {"finish_reason": self.reply.finish_reason, **choices[-1]}
        else:
            choices.append(
                {"finish_reason": self.reply.finish_reason, "index": 0, "delta": {"content": "", **SPEAKER}}
            )
        out: list[Chunk] = []
        for i, choice in enumerate(choices):
            if self.config.chat_empty_role and i % 4 == 0:
                out.append(self.empty_role_chunk())
            out.append(self.chunk([choice]))
        if self.config.chat_ending == "final_message":
            return [*out, self.completion()]
        out.append({**self._head(), "usage": self.reply.usage(), "base_resp": OK_RESP})
        return [*out, DONE] if self.config.chat_ending == "done" else out

    def empty_role_chunk(self) -> JSON:
        return self.chunk(
            [{"index": 0, "delta": {"role": "", "reasoning_content": ""}}],
        ) | {"usage": {"total_tokens": 0, "total_characters": 0}}

    def message(self) -> JSON:
        """The whole reply as one assistant message (content exactly as the deltas concatenate)."""
        message: JSON = {"content": content_text(self.mode, self.reply)[0], **SPEAKER}
        if self.mode in ("split", "both"):
            message["reasoning_content"] = self.reply.reasoning
            message["reasoning_details"] = [reasoning_detail(self.reply.reasoning)]
        if self.reply.tool_calls:
            message["tool_calls"] = [tool_call_json(c) for c in self.reply.tool_calls]
        return message

    def completion(self) -> JSON:
        """`object: "chat.completion"`: the final-message chunk, and the non-streamed answer."""
        choice = {"finish_reason": self.reply.finish_reason, "index": 0, "message": self.message()}
        head = self._head("chat.completion")
        return {**head, "choices": [choice], "usage": self.reply.usage(), **SENSITIVE, "base_resp": OK_RESP}

    def error_chunk(self, code: int, message: str) -> JSON:
        flags = {"input_sensitive": code == 1026, "output_sensitive": code == 1027}
        return self.chunk([], **flags, base_resp={"status_code": code, "status_msg": message})
