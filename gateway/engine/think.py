"""Split MiniMax's `content` stream into thinking and answer text at `<think>` / `</think>`, at any split.

MiniMax puts its thinking inside `content` as `<think>\\n...\\n</think>\\n\\n` before the answer
(docs/minimax-chat.md, "Reasoning"). `ThinkSplitter.feed(piece)` returns `(reasoning, text)` for each
piece, the reasoning always preceding the text; nothing is lost or doubled, whatever the cuts.

Rules:
- Only a `<think>` at the very start of the content opens thinking; anywhere else it is answer text.
  The content is held while it is still a prefix of `<think>` (at most 6 characters, until the next piece).
- Inside thinking, everything up to `</think>` is reasoning, verbatim (the newlines just inside the tags
  included). A tail that could be the start of a split `</think>` (at most 7 characters, always the last
  `<` in the piece) is held until the next piece.
- The newlines (LF or CR) directly after `</think>` are dropped: MiniMax sends `\\n\\n` there to separate
  the thinking from the answer, and they are not answer text. Other whitespace, and newlines anywhere
  else, are kept.
- `</think>` without an opener (reported for M2.7) cannot be recognised automatically without holding
  back every answer: text already sent as answer cannot be taken back once a `</think>` shows it was
  thinking. So it is opt-in: with `closer_only=True`, content that does not start with `<think>` is held
  until `</think>` arrives (what came before it is reasoning) or `flush()` is called (then it was all
  answer). Worst-case latency in that mode is the whole answer of a reply that did not think. Without
  it, a `</think>` in an answer that had no opener stays answer text and sets `unopened_closer`, the
  hint that this model thinks closer-only.
- `settle()` (a tool call started: the text before it is complete) resolves a held start or a held
  closer-only content as answer text; `flush()` (the content ended) also releases a held partial closer.

Work per piece is O(len(piece)): only the piece and the held tail of at most 7 characters are scanned.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"

_START, _THINK, _AFTER, _ANSWER, _HOLD = range(5)  # _HOLD: closer-only content not yet decided


class ThinkSplitter:
    __slots__ = ("_closer_only", "_held", "_held_len", "_state", "_tail", "_watch", "unopened_closer")

    def __init__(self, closer_only: bool = False) -> None:
        self._closer_only = closer_only
        self._state = _START
        self._held: list[str] = []  # _START: the prefix of `<think>`; _HOLD: the content so far
        self._held_len = 0
        self._tail = ""  # _THINK: a possible partial `</think>`; _HOLD / _ANSWER: the last 7 characters
        self._watch = False  # an answer without an opener: look out for a stray `</think>`
        self.unopened_closer = False

    @property
    def answering(self) -> bool:
        """In the answer, nothing held: every piece is answer text as it comes."""
        return self._state == _ANSWER

    def feed(self, piece: str) -> tuple[str, str]:
        """Take the next piece of `content`; return `(reasoning, text)` to append now."""
        state = self._state
        if state == _ANSWER:
            if self._watch and (self._tail or "<" in piece):  # only a hint: nothing is held for it
                window = self._tail + piece  # the tail is "" or holds a `<`: the start of a closer
                if CLOSE in window:
                    self.unopened_closer, self._watch = True, False
                tail = window[-7:]
                self._tail = tail if "<" in tail else ""
            return "", piece
        if not piece:
            return "", ""
        if state == _START:
            return self._start(piece)
        if state == _THINK:
            return self._think(piece)
        if state == _AFTER:
            return "", self._after(piece)
        return self._hold(piece)

    def settle(self) -> tuple[str, str]:
        """A tool call began: content held only because it might turn out to be thinking is answer text."""
        if self._held:  # _START or _HOLD
            text = "".join(self._held)
            self._held, self._held_len, self._tail = [], 0, ""
            self._state = _ANSWER
            self._watch = not self._closer_only
            return "", text
        return "", ""

    def flush(self) -> tuple[str, str]:
        """The content ended: release everything held back."""
        if self._state == _THINK and self._tail:
            tail, self._tail = self._tail, ""
            return tail, ""
        return self.settle()

    def _start(self, piece: str) -> tuple[str, str]:
        value = "".join(self._held) + piece if self._held else piece
        if value.startswith(OPEN):
            self._held = []
            self._state = _THINK
            return self._think(value[len(OPEN) :])
        if OPEN.startswith(value):
            self._held = [value]
            return "", ""
        self._held = []
        if self._closer_only:
            self._state = _HOLD
            return self._hold(value)
        self._state = _ANSWER
        self._tail, self._watch = "", True
        return self.feed(value)

    def _think(self, piece: str) -> tuple[str, str]:
        value = self._tail + piece if self._tail else piece
        end = value.find(CLOSE)
        if end >= 0:
            self._tail = ""
            self._state = _AFTER
            return value[:end], self._after(value[end + len(CLOSE) :])
        cut = value.rfind("<", max(0, len(value) - len(CLOSE) + 1))
        if cut >= 0 and CLOSE.startswith(value[cut:]):
            self._tail = value[cut:]
            return value[:cut], ""
        self._tail = ""
        return value, ""

    def _after(self, piece: str) -> str:
        text = piece.lstrip("\r\n")
        if text:
            self._state = _ANSWER
            self._tail = ""
        return text

    def _hold(self, piece: str) -> tuple[str, str]:
        window = self._tail + piece
        end = window.find(CLOSE)
        if end < 0:
            self._held.append(piece)
            self._held_len += len(piece)
            self._tail = window[-7:]
            return "", ""
        content = "".join(self._held) + piece  # joined once, when the decision is made
        end += self._held_len - len(self._tail)
        self._held, self._held_len, self._tail = [], 0, ""
        self._state = _AFTER
        return content[:end], self._after(content[end + len(CLOSE) :])
