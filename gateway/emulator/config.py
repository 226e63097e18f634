"""Emulator settings: wire dialect, chunking, pacing and auth knobs, as one frozen dataclass."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal, get_args

TextMode = Literal["incremental", "cumulative", "incremental_final"]
BaseRespStyle = Literal["status_code", "code", "empty"]
Chunking = Literal["frames", "split"]
LineEnding = Literal["\n", "\r\n"]
ChatThinking = Literal["inline", "split", "both", "closer_only"]
ChatReasoning = Literal["incremental", "cumulative"]
ChatEnding = Literal["usage", "final_message", "done"]
ChatToolArgs = Literal["pieces", "whole"]

_LINE_ENDINGS: dict[str, LineEnding] = {"lf": "\n", "crlf": "\r\n"}


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator speaks. Defaults are the best-supported reading of MiniMax's wire
    (docs/minimax-wire.md; docs/minimax-chat.md for the chat knobs).

    text_mode: what each `message` frame's `text.value` carries: the new piece (`incremental`), the
        whole text so far (`cumulative`), or new pieces plus one final frame with the whole text
        (`incremental_final`); see (docs/minimax-wire.md, "Message text: cumulative or incremental").
    step_frames: emit `run step` frames at all.
    base_resp_style: `status_code` ({} then {"status_code":0,...} on the final frame), `code`
        ({"code":0,"message":""} then {"code":0,"message":"success"}), `empty` ({} always).
    echo_user: echo the input turn as a `role:"user"` message frame.
    chunking: `frames` (one body write per frame) or `split` (seeded random cuts, see splitter.Splitter).
    pace_ms: delay between frames (and between background run changes); 0 = as fast as possible.
    chars_per_frame: reply characters (not bytes) per message frame.
    api_key: None accepts any non-empty bearer token; a string must match exactly.
    group_id: when set, a `GroupId` query parameter, if present, must equal it.

    Chat completions (`/v1/chat/completions`, `/v1/text/chatcompletion_v2`; chunking, split_seed,
    line_ending, pace_ms and api_key apply to them too):
    chat_thinking: `inline` (`<think>...</think>` in content), `split` (reasoning_content and
        reasoning_details when the request sets `reasoning_split`, else inline), `both` (inline and
        reasoning_content), `closer_only` (thinking text then `</think>`, no opener).
    chat_reasoning: reasoning chunks carry the new piece (`incremental`) or the whole so far (`cumulative`).
    chat_ending: `usage` (usage-only chunk, EOF), `final_message` (a `chat.completion` chunk repeating
        the whole reply), `done` (usage-only chunk, then `data: [DONE]`).
    chat_empty_role: interleave `"role":""` chunks with empty reasoning_content and zero usage.
    chat_tool_args: tool-call arguments over several chunks (`pieces`) or in one chunk (`whole`).
    chars_per_chunk: reply characters per content or reasoning chunk (and per arguments piece).
    """

    text_mode: TextMode = "incremental"
    step_frames: bool = True
    base_resp_style: BaseRespStyle = "status_code"
    echo_user: bool = True
    chunking: Chunking = "frames"
    split_seed: int = 0
    line_ending: LineEnding = "\n"
    pace_ms: float = 0.0
    chars_per_frame: int = 4
    api_key: str | None = None
    group_id: str | None = None
    chat_thinking: ChatThinking = "inline"
    chat_reasoning: ChatReasoning = "incremental"
    chat_ending: ChatEnding = "usage"
    chat_empty_role: bool = False
    chat_tool_args: ChatToolArgs = "pieces"
    chars_per_chunk: int = 4

    def __post_init__(self) -> None:
        choices: list[tuple[str, object, tuple[object, ...]]] = [
            ("text_mode", self.text_mode, get_args(TextMode)),
            ("base_resp_style", self.base_resp_style, get_args(BaseRespStyle)),
            ("chunking", self.chunking, get_args(Chunking)),
            ("line_ending", self.line_ending, get_args(LineEnding)),
            ("chat_thinking", self.chat_thinking, get_args(ChatThinking)),
            ("chat_reasoning", self.chat_reasoning, get_args(ChatReasoning)),
            ("chat_ending", self.chat_ending, get_args(ChatEnding)),
            ("chat_tool_args", self.chat_tool_args, get_args(ChatToolArgs)),
        ]
        for name, value, allowed in choices:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        if self.chars_per_frame < 1 or self.chars_per_chunk < 1:
            raise ValueError("chars_per_frame and chars_per_chunk must be >= 1")
        if self.pace_ms < 0:
            raise ValueError("pace_ms must be >= 0")

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> EmulatorConfig:
        """Build from arguments declared by `add_arguments`."""
        return cls(
            text_mode=ns.text_mode,
            step_frames=ns.step_frames,
            base_resp_style=ns.base_resp_style,
            echo_user=ns.echo_user,
            chunking=ns.chunking,
            split_seed=ns.split_seed,
            line_ending=_LINE_ENDINGS[ns.line_ending],
            pace_ms=ns.pace_ms,
            chars_per_frame=ns.chars_per_frame,
            api_key=ns.api_key,
            group_id=ns.group_id,
            chat_thinking=ns.chat_thinking,
            chat_reasoning=ns.chat_reasoning,
            chat_ending=ns.chat_ending,
            chat_empty_role=ns.chat_empty_role,
            chat_tool_args=ns.chat_tool_args,
            chars_per_chunk=ns.chars_per_chunk,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare one CLI option per EmulatorConfig field (used by `python -m gateway.emulator`)."""
    d = EmulatorConfig()
    parser.add_argument("--text-mode", choices=get_args(TextMode), default=d.text_mode)
    parser.add_argument("--no-step-frames", dest="step_frames", action="store_false")
    parser.add_argument("--base-resp-style", choices=get_args(BaseRespStyle), default=d.base_resp_style)
    parser.add_argument("--no-echo-user", dest="echo_user", action="store_false")
    parser.add_argument("--chunking", choices=get_args(Chunking), default=d.chunking)
    parser.add_argument("--split-seed", type=int, default=d.split_seed)
    parser.add_argument("--line-ending", choices=sorted(_LINE_ENDINGS), default="lf")
    parser.add_argument("--pace-ms", type=float, default=d.pace_ms)
    parser.add_argument("--chars-per-frame", type=int, default=d.chars_per_frame)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--group-id", default=None)
    chat = parser.add_argument_group("chat completions dialect")
    chat.add_argument("--chat-thinking", choices=get_args(ChatThinking), default=d.chat_thinking)
    chat.add_argument("--chat-reasoning", choices=get_args(ChatReasoning), default=d.chat_reasoning)
    chat.add_argument("--chat-ending", choices=get_args(ChatEnding), default=d.chat_ending)
    chat.add_argument("--chat-empty-role", action="store_true", help="interleave role:'' chunks")
    chat.add_argument("--chat-tool-args", choices=get_args(ChatToolArgs), default=d.chat_tool_args)
    chat.add_argument("--chars-per-chunk", type=int, default=d.chars_per_chunk)
