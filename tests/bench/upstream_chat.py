"""MiniMax chat completions for the bench upstream: pre-encoded chunks shaped like a live MiniMax-M2.7
capture, for `POST /v1/chat/completions`.

The stream shape comes from the request's last user message, which the engine forwards from the
thread (the same `bench_n<chunks>_p<pace ms>_inc_<run|hold>` text the Assistants scenarios put in the
thread_id; anything else: the warm-up shape). A `run` stream is: REASONING_CHUNKS reasoning chunks at
once (`delta.reasoning_content` + `reasoning_details` when the request has `reasoning_split`, else
inline `<think>...</think>` content), then <chunks> content chunks at the pace, each carrying one
timestamp token, the last one with `finish_reason: "stop"` (as MiniMax sends it), then the usage-only
chunk (`choices: []`, `base_resp` 0) and EOF, no `[DONE]`. A `hold` stream sends the reasoning chunks
and then nothing until the client goes away.

The `ans` dialect (`bench_n100_p20_ans_run`, the `run_*` scenarios) is a plain answer: no reasoning
chunks, <chunks> content chunks of ANSWER_CHARS (32) characters each (the 19-character token, then
ANSWER_PAD), ~400 bytes per chunk as M2.7 sends them (the delta repeats role, name and audio_content;
the chunk carries usage null and the five sensitivity fields), the finish on the last one, then the
usage chunk.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

CHAT_PATH = b"/v1/chat/completions"
MODEL = "MiniMax-M2.7"
REASONING_CHUNKS = 4
REASONING_PIECE = "The bench asks for timestamps; "
ANSWER_CHARS = 32
ANSWER_PAD = " lorem ipsum."  # 19-character token + these 13 = ANSWER_CHARS of answer per chunk
VALUE_MARK = "@@VALUE@@"
SPEAKER: dict[str, Any] = {"role": "assistant", "name": "MiniMax AI", "audio_content": ""}
SENSITIVE: dict[str, Any] = {
    "input_sensitive": False,
    "output_sensitive": False,
    "input_sensitive_type": 0,
    "output_sensitive_type": 0,
    "output_sensitive_int": 0,
}


def last_user_text(doc: Any) -> str:
    """The text of the request's last user message ("" if none)."""
    for message in reversed(doc.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def chat_chunks_per_stream(chunks: int, hold: bool) -> int:
    """Chunks upstream sends for one chat stream (the per-event CPU denominator)."""
    return REASONING_CHUNKS if hold else REASONING_CHUNKS + chunks + 1


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class ChatFrames:
    """Pre-encoded chunks of one completion: reasoning preamble, content template (head + value +
    tail; `last_tail` carries the finish), usage trailer. Same interface as upstream.Frames."""

    __slots__ = ("head", "hold_preamble", "last_head", "last_tail", "preamble", "tail", "trailer")

    def __init__(self, chunks: int, reasoning_split: bool, answer: bool = False) -> None:
        thinking = 0 if answer else REASONING_CHUNKS
        head = {
            "id": os.urandom(16).hex(),
            "choices": [],
            "created": int(time.time()),
            "model": MODEL,
            "object": "chat.completion.chunk",
        }

        def chunk(delta: dict[str, Any], **choice: Any) -> bytes:
            return _sse(
                {**head, "choices": [{**choice, "index": 0, "delta": delta}], "usage": None, **SENSITIVE}
            )

        if reasoning_split:
            reasoning = [
                {
                    **SPEAKER,
                    "reasoning_content": REASONING_PIECE,
                    "reasoning_details": [_detail(REASONING_PIECE)],
                }
                for _ in range(thinking)
            ]
        elif thinking:
            texts = [REASONING_PIECE] * thinking
            texts[0] = "<think>\n" + texts[0]
            texts[-1] += "\n</think>\n\n"
            reasoning = [{"content": t, **SPEAKER} for t in texts]
        else:
            reasoning = []
        # No reasoning: no preamble at all (an empty HTTP chunk would end the chunked body).
        thoughts = b"".join(chunk(d) for d in reasoning)
        self.preamble = self.hold_preamble = _chunk(thoughts) if thoughts else b""
        mark = VALUE_MARK.encode()
        value = VALUE_MARK + (ANSWER_PAD if answer else "")  # the pad lands at the start of the tail
        self.head, self.tail = chunk({"content": value, **SPEAKER}).split(mark)
        last = chunk({"content": value, **SPEAKER}, finish_reason="stop")
        self.last_head, self.last_tail = last.split(mark)
        usage = {
            "total_tokens": 20 + thinking + chunks,
            "total_characters": 0,
            "prompt_tokens": 20,
            "completion_tokens": thinking + chunks,
            "completion_tokens_details": {"reasoning_tokens": thinking},
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        ending = {**head, "usage": usage, "base_resp": {"status_code": 0, "status_msg": ""}}
        self.trailer = _chunk(_sse(ending)) + b"0\r\n\r\n"

    def message(self, value: bytes | bytearray, last: bool = False) -> bytes:
        head, tail = (self.last_head, self.last_tail) if last else (self.head, self.tail)
        size = len(head) + len(value) + len(tail)
        return b"".join((b"%x\r\n" % size, head, value, tail, b"\r\n"))


def _detail(text: str) -> dict[str, Any]:
    return {
        "type": "reasoning.text",
        "id": "reasoning-text-1",
        "format": "MiniMax-response-v1",
        "index": 0,
        "text": text,
    }
