"""The chat-stream dialects the engine's end-to-end tests run in: one emulator configuration each, named for
how MiniMax may send reasoning, endings, roles and chunk boundaries."""

from __future__ import annotations

from gateway.emulator.config import EmulatorConfig

DIALECTS = {
    "inline": EmulatorConfig(),
    "split-cumulative-final": EmulatorConfig(
        chat_thinking="split", chat_reasoning="cumulative", chat_ending="final_message", chunking="split"
    ),
    "split-incremental-3chars": EmulatorConfig(chat_thinking="split", chars_per_chunk=3, split_seed=4),
    "both-done-emptyrole-crlf": EmulatorConfig(
        chat_thinking="both", chat_ending="done", chat_empty_role=True, line_ending="\r\n"
    ),
    "closer-only": EmulatorConfig(chat_thinking="closer_only", chunking="split", split_seed=9),
}
