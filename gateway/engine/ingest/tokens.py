"""What the gateway counts as a token when it sizes file_search chunks.

OpenAI sizes chunks in tokens of its own tokenizer, whose vocabulary this gateway cannot load (it
would be fetched at run time). This module defines a stand-in that needs no data, in this order:

(a) a run of letters (`[^\\W\\d_]`) of a script written with spaces between words (Latin, Cyrillic,
    Greek, Arabic, Hebrew, Devanagari...), up to 32 letters; a longer run (a base64 blob, a very long
    compound) counts one token per 32 letters, so that no single token is unbounded;
(b) a run of up to 3 digits;
(c) one character of a script written without spaces: a CJK ideograph, kana, hangul (syllables and
    jamo), bopomofo, Thai, Lao, Khmer or Myanmar;
(d) any other single character that is not whitespace: punctuation, symbols, `_`, and combining
    marks (a word holding one, such as Devanagari or decomposed accents, counts as several tokens).
Whitespace is never a token.

How it compares with OpenAI's cl100k tokenizer: CJK text comes out close to one token per character
on both. English does not match exactly: this counts a word as one token (plus its punctuation),
about 1.2 tokens per word on English prose, while OpenAI's rule of thumb is 0.75 words per token,
about 1.33 tokens per word. So English counts some 10-15% fewer tokens here, and a chunk of N tokens
holds somewhat more English text than OpenAI's did for the same N. Chunk sizes are a retrieval
setting, not a context limit, so the difference is harmless.

`TOKEN` finds one token per match. `skip` steps over many tokens at once, in a few calls of the
regex engine: the chunker needs only the offsets of some tokens, and that is several times faster
than one match object per token.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

# Scripts written without spaces between words: one token per character.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul jamo
    "\u1780-\u17ff"  # Khmer
    "\u3005-\u3007"  # ideographic iteration mark, closing mark, number zero
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u318f"  # bopomofo, hangul compatibility jamo
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\ua960-\ua97f"  # hangul jamo extended A
    "\uac00-\ud7ff"  # hangul syllables, jamo extended B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width katakana
    "\U0001b000-\U0001b16f"  # kana supplement and extensions
    "\U00020000-\U0003ffff"  # CJK extensions B and later, compatibility supplement
)

# One token, in the order of the module docstring. The quantifiers are possessive so that a pattern
# repeating this one (`_run`) can never split a token by backtracking into it.
_ONE = rf"[^\W\d_{_UNSPACED}]{{1,32}}+|\d{{1,3}}+|[{_UNSPACED}]|\S"

TOKEN: re.Pattern[str] = re.compile(_ONE)


def spans(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) offsets in `text` of each of its tokens, in order."""
    for match in TOKEN.finditer(text):
        yield match.span()


def count(text: str) -> int:
    """The number of tokens in `text`."""
    return len(TOKEN.findall(text))


def skip(text: str, pos: int, n: int) -> int | None:
    """The offset just past the n-th token of `text` after `pos` (a position between tokens), or
    None when fewer than `n` tokens follow. Runs of a power of two tokens are matched in one call of
    the regex engine each, so that only a dozen patterns are ever compiled."""
    while n > 0:
        size = 1 << min(n.bit_length() - 1, _LARGEST_RUN)
        match = _run(size).match(text, pos)
        if match is None:
            return None
        pos = match.end()
        n -= size
    return pos


_LARGEST_RUN = 12  # 4096 tokens, the largest chunk OpenAI allows


@functools.cache
def _run(n: int) -> re.Pattern[str]:
    """Matches, at a position between tokens, the next `n` tokens and the whitespace before each;
    the quantifiers being possessive and each token atomic, no token is ever split to make up `n`."""
    return re.compile(rf"(?:\s*+(?>{_ONE})){{{n}}}")
