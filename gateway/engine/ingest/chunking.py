"""Cut extracted text into the overlapping chunks that file_search retrieves.

A chunk holds at most `max_tokens` tokens (as `tokens.py` counts them); each chunk starts
`max_tokens - overlap_tokens` tokens after the previous one's start, so consecutive chunks share
`overlap_tokens` tokens; the last chunk holds what is left and may be shorter. A chunk's text runs
from its first token's start to its last token's end: an exact slice of the text, whitespace inside
kept as it was, none around it. A text with no token has no chunk.

The text comes as pieces (what `extract` yields) and is cut as it comes: only the pieces holding
text from the start of the unfinished chunk onwards are kept, so memory is bounded by one chunk's
text plus a piece or two, however long the document, and each piece is scanned once. A token may
straddle two pieces (a word split by a block boundary): the last token of a piece is not taken as
final until the next piece (or the end) shows where it stops. The result does not depend on how the
text is split into pieces.

Tokens are not found one by one: the only token offsets a chunk needs are its first token's start
and its last token's end, so the chunker steps from one such boundary to the next with
`tokens.skip`, a few regex matches however many tokens apart they are. Chunk k starts at token
k*step and ends after token k*step + max_tokens - 1 = (k+1)*step + overlap - 1, so the boundaries
are, from each multiple of the step: its first token, then up to `overlap` tokens in, then the
next multiple.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.engine.ingest import tokens

AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400
MIN_MAX_TOKENS = 100
MAX_MAX_TOKENS = 4096

# Small pieces are joined up to this many characters before being cut: each cut costs a few regex
# calls and a kept string, more than the text of a piece of a few characters is worth.
_COALESCE_CHARS = 16 * 1024

_SPACE = re.compile(r"\s*")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int  # 0, 1, 2... in document order
    text: str  # an exact slice of the extracted text
    tokens: int  # the tokens in `text`, as `tokens.count` counts them


def check_static(max_chunk_size_tokens: int, chunk_overlap_tokens: int) -> str | None:
    """None if OpenAI accepts this static chunking strategy, else its reason, worded as OpenAI words
    an out-of-range parameter: the size is 100..4096 tokens, the overlap at least 0 and at most half
    the size."""
    size = "chunking_strategy.static.max_chunk_size_tokens"
    overlap = "chunking_strategy.static.chunk_overlap_tokens"
    if max_chunk_size_tokens < MIN_MAX_TOKENS:
        return (
            f"Invalid '{size}': integer below minimum value. "
            f"Expected a value >= {MIN_MAX_TOKENS}, but got {max_chunk_size_tokens} instead."
        )
    if max_chunk_size_tokens > MAX_MAX_TOKENS:
        return (
            f"Invalid '{size}': integer above maximum value. "
            f"Expected a value <= {MAX_MAX_TOKENS}, but got {max_chunk_size_tokens} instead."
        )
    if chunk_overlap_tokens < 0:
        return (
            f"Invalid '{overlap}': integer below minimum value. "
            f"Expected a value >= 0, but got {chunk_overlap_tokens} instead."
        )
    if chunk_overlap_tokens * 2 > max_chunk_size_tokens:
        return (
            f"Invalid '{overlap}': chunk_overlap_tokens must not exceed half of max_chunk_size_tokens. "
            f"Expected a value <= {max_chunk_size_tokens // 2}, but got {chunk_overlap_tokens} instead."
        )
    return None


def chunks(
    pieces: Iterable[str], max_tokens: int = AUTO_MAX_TOKENS, overlap_tokens: int = AUTO_OVERLAP_TOKENS
) -> Iterator[Chunk]:
    """The chunks of the text that `pieces` make up when joined, in order (see the module docstring).
    Any `max_tokens` >= 1 is accepted (OpenAI's range is `check_static`'s business); the overlap must
    be at least 0 and at most half of `max_tokens`, else ValueError."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= overlap_tokens * 2 <= max_tokens:
        raise ValueError(f"overlap_tokens must be within 0..max_tokens/2, got {overlap_tokens}")
    return _chunks(pieces, _Cutter(max_tokens, overlap_tokens))


def _chunks(pieces: Iterable[str], cutter: _Cutter) -> Iterator[Chunk]:
    pending: list[str] = []
    pending_chars = 0
    for piece in pieces:
        if not piece:
            continue
        pending.append(piece)
        pending_chars += len(piece)
        if pending_chars >= _COALESCE_CHARS:
            yield from cutter.feed(pending[0] if len(pending) == 1 else "".join(pending))
            pending.clear()
            pending_chars = 0
    if pending:
        yield from cutter.feed("".join(pending))
    yield from cutter.finish()


class _Cutter:
    """The cutting state between pieces. Offsets are counted from the start of the whole text.

    Each piece is scanned once: what is carried from one piece to the next is at most an unfinished
    token. The text a pending chunk will need is kept as the scanned strings themselves (`_parts`,
    each a piece after that carried token), never joined into a growing buffer, so even a chunk with
    an enormous run of whitespace inside costs time linear in its length."""

    def __init__(self, max_tokens: int, overlap_tokens: int) -> None:
        self._max = max_tokens
        self._overlap = overlap_tokens
        self._step = max_tokens - overlap_tokens
        self._parts: deque[tuple[int, str]] = deque()  # (offset, text) from the first needed on
        self._scan = ""  # the text from `_scan_at` to the end of what was read: scanning resumes here
        self._scan_at = 0
        self._counted = 0  # tokens before `_scan_at`
        self._last_end = 0  # the offset where the last token counted ends
        self._starts: deque[int] = deque()  # first-token offsets of the chunks started, not emitted
        self._index = 0  # the index of the next chunk to emit

    def feed(self, text: str) -> Iterator[Chunk]:
        self._scan = self._scan + text if self._scan else text
        self._parts.append((self._scan_at, self._scan))
        yield from self._advance(final=False)
        # Forget the pieces no chunk to come reaches into.
        needed = self._starts[0] if self._starts else self._scan_at
        while self._parts and self._parts[0][0] + len(self._parts[0][1]) <= needed:
            self._parts.popleft()

    def finish(self) -> Iterator[Chunk]:
        yield from self._advance(final=True)
        # Every token is counted: what follows the last boundary is the last chunk, unless the
        # previous chunk already holds all of it (its first token is then known: see `_advance`).
        first = self._index * self._step
        if self._counted > first + (self._overlap if self._index else 0):
            yield Chunk(self._index, self._text(self._starts[0], self._last_end), self._counted - first)
            self._index += 1

    def _advance(self, final: bool) -> Iterator[Chunk]:
        """Step from boundary to boundary through `_scan` (see the module docstring), emitting each
        chunk whose last token is reached; stop short of a boundary not in the text yet."""
        scan, base, pos = self._scan, self._scan_at, 0
        step, overlap, max_tokens = self._step, self._overlap, self._max
        while True:
            into_step = self._counted % step
            if into_step == 0:
                n = 1
            elif into_step < overlap:
                n = overlap - into_step
            else:
                n = step - into_step
            end = tokens.skip(scan, pos, n)
            if end is None or (end == len(scan) and not final):
                # The boundary is not in the text yet, or its last token may go on in the next piece.
                pos = self._count_complete(scan, pos, final)
                break
            if into_step == 0:
                space = _SPACE.match(scan, pos)
                assert space is not None  # `\s*` matches everywhere
                self._starts.append(base + space.end())
            self._counted += n
            pos = end
            self._last_end = base + pos
            if self._counted >= max_tokens and (self._counted - max_tokens) % step == 0:
                yield Chunk(self._index, self._text(self._starts.popleft(), base + pos), max_tokens)
                self._index += 1
        self._scan = scan[pos:]
        self._scan_at = base + pos

    def _count_complete(self, scan: str, pos: int, final: bool) -> int:
        """Count the tokens of `scan` after `pos`, all short of the next boundary, but an unfinished
        last one; the offset in `scan` where scanning is to resume: that token's start, else the end.
        (Every character but whitespace is in a token, so the last token ends where `scan` does
        exactly when `scan` ends with something other than whitespace.)"""
        complete = len(tokens.TOKEN.findall(scan, pos))
        unfinished = complete > 0 and not final and not scan[-1].isspace()
        if unfinished:
            complete -= 1
        resume = pos
        if complete:
            end = tokens.skip(scan, pos, complete)
            assert end is not None  # there are at least `complete` tokens after `pos`
            self._counted += complete
            self._last_end = self._scan_at + end
            resume = end
        if not unfinished:
            return len(scan)  # nothing but whitespace after `resume`
        space = _SPACE.match(scan, resume)
        assert space is not None  # `\s*` matches everywhere
        return space.end()

    def _text(self, start: int, end: int) -> str:
        """The text from offset `start` to offset `end`, from the pieces kept."""
        out = []
        at = start  # consecutive parts overlap by the token carried from one to the next
        for offset, part in self._parts:
            stop = min(end, offset + len(part))
            if stop > at:
                out.append(part[at - offset : stop - offset])
                at = stop
            if at >= end:
                break
        return out[0] if len(out) == 1 else "".join(out)
