"""tokens and chunking: what a token is, and chunks that are exact, overlapping, complete slices of the
text however it is split into pieces, cut in bounded memory."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine.ingest import chunking, tokens
from gateway.engine.ingest.chunking import Chunk, check_static, chunks

# ---- tokens ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        (" \t\r\n\u3000\u00a0", []),
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("naïve café Straße", ["naïve", "café", "Straße"]),
        ("файл λόγος", ["файл", "λόγος"]),
        ("1234567 v2", ["123", "456", "7", "v", "2"]),
        ("snake_case", ["snake", "_", "case"]),
        ("文件搜索", ["文", "件", "搜", "索"]),
        ("ひらがなカタカナ", ["ひ", "ら", "が", "な", "カ", "タ", "カ", "ナ"]),
        ("한국어", ["한", "국", "어"]),
        ("ภาษาไทย", ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]),
        ("abc中文def", ["abc", "中", "文", "def"]),
        ("a" * 70, ["a" * 32, "a" * 32, "a" * 6]),
        ("→ ★ 🙂", ["→", "★", "🙂"]),
    ],
)
def test_what_a_token_is(text: str, expected: list[str]) -> None:
    assert [text[start:end] for start, end in tokens.spans(text)] == expected
    assert tokens.count(text) == len(expected)


def test_english_prose_counts_about_one_token_per_word_plus_punctuation() -> None:
    prose = "The quick brown fox, having jumped over the lazy dog, rested; then it ran home."
    assert len(prose.split()) == 15
    assert tokens.count(prose) == 19


# Texts made of parts that exercise every kind of token, runs longer than a token, and whitespace.
TEXTS = st.lists(
    st.sampled_from([*"ab z9Zé中あ한ภ,.-_\n\r\t\u3000🙂\u0301", "a" * 21, "12345"]), max_size=60
).map("".join)


@given(text=TEXTS, data=st.data())
def test_skip_steps_over_exactly_the_tokens_finditer_finds(text: str, data: st.DataObject) -> None:
    spans = list(tokens.spans(text))
    assert "".join(text[start:end] for start, end in spans) == "".join(text.split())  # all but whitespace
    first = data.draw(st.integers(0, len(spans)))
    n = data.draw(st.integers(0, len(spans) + 1))
    pos = spans[first - 1][1] if first else 0
    expected = None if first + n > len(spans) else spans[first + n - 1][1] if n else pos
    assert tokens.skip(text, pos, n) == expected


def test_skip_never_splits_a_token_to_make_up_the_number() -> None:
    assert tokens.skip("abc", 0, 2) is None
    assert tokens.skip("123456", 0, 3) is None
    long_run = "x" * 10_000 + " y"  # 312 tokens of 32 letters, one of 16, then "y"
    assert [tokens.skip(long_run, 0, n) for n in (312, 313, 314, 315)] == [9984, 10_000, 10_002, None]
    many = " ".join(["w"] * 9000)
    assert tokens.skip(many, 0, 8999) == len(many) - 2
    assert tokens.skip(many, 0, 9001) is None


# ---- check_static ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "overlap"), [(100, 0), (100, 50), (800, 400), (4096, 2048), (4096, 0)])
def test_check_static_accepts_what_openai_accepts(size: int, overlap: int) -> None:
    assert check_static(size, overlap) is None


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (
            99,
            0,
            "Invalid 'chunking_strategy.static.max_chunk_size_tokens': integer below minimum value. "
            "Expected a value >= 100, but got 99 instead.",
        ),
        (
            4097,
            0,
            "Invalid 'chunking_strategy.static.max_chunk_size_tokens': integer above maximum value. "
            "Expected a value <= 4096, but got 4097 instead.",
        ),
        (
            800,
            -1,
            "Invalid 'chunking_strategy.static.chunk_overlap_tokens': integer below minimum value. "
            "Expected a value >= 0, but got -1 instead.",
        ),
        (
            800,
            401,
            "Invalid 'chunking_strategy.static.chunk_overlap_tokens': chunk_overlap_tokens must not exceed "
            "half of max_chunk_size_tokens. Expected a value <= 400, but got 401 instead.",
        ),
        (
            101,
            51,
            "Invalid 'chunking_strategy.static.chunk_overlap_tokens': chunk_overlap_tokens must not exceed "
            "half of max_chunk_size_tokens. Expected a value <= 50, but got 51 instead.",
        ),
    ],
)
def test_check_static_words_each_refusal_as_openai_does(size: int, overlap: int, message: str) -> None:
    assert check_static(size, overlap) == message


def test_the_auto_strategy_is_openais() -> None:
    assert (chunking.AUTO_MAX_TOKENS, chunking.AUTO_OVERLAP_TOKENS) == (800, 400)
    assert check_static(chunking.AUTO_MAX_TOKENS, chunking.AUTO_OVERLAP_TOKENS) is None


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 6), (10, -1)])
def test_chunks_refuses_an_overlap_it_cannot_keep(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunks(["text"], size, overlap)


# ---- chunks: examples ------------------------------------------------------------------------------


def texts(made: Iterator[Chunk]) -> list[str]:
    return [chunk.text for chunk in made]


def test_consecutive_chunks_share_the_overlap_and_the_last_holds_the_rest() -> None:
    made = list(chunks(["  a b c d e f g  "], 4, 2))
    assert [(chunk.index, chunk.text, chunk.tokens) for chunk in made] == [
        (0, "a b c d", 4),
        (1, "c d e f", 4),
        (2, "e f g", 3),
    ]


def test_no_last_chunk_when_the_previous_one_already_holds_the_end() -> None:
    assert texts(chunks(["a b c d e f"], 4, 2)) == ["a b c d", "c d e f"]


def test_without_overlap_chunks_follow_each_other() -> None:
    assert texts(chunks(["a b c d e f g"], 3, 0)) == ["a b c", "d e f", "g"]


def test_inner_whitespace_is_kept_exactly() -> None:
    assert texts(chunks(["one\r\n\r\n  two\tthree", "  "], 10, 0)) == ["one\r\n\r\n  two\tthree"]


@pytest.mark.parametrize("pieces", [[], [""], ["   ", "\n\t", ""]])
def test_no_chunk_for_text_without_tokens(pieces: list[str]) -> None:
    assert list(chunks(pieces)) == []


def test_a_word_split_between_pieces_is_one_token() -> None:
    with mock.patch.object(chunking, "_COALESCE_CHARS", 1):  # cut every piece as it comes
        made = list(chunks(["alpha be", "ta gam", "ma"], 2, 0))
    assert [(chunk.text, chunk.tokens) for chunk in made] == [("alpha beta", 2), ("gamma", 1)]


def test_defaults_cut_800_token_chunks_every_400_tokens() -> None:
    text = " ".join(f"w{i % 1000:03d}" for i in range(2000))  # "w123" is two tokens: 4000 in all
    made = list(chunks([text]))
    assert [chunk.tokens for chunk in made] == [800] * 9
    assert made[1].text.startswith("w200 w201 ")
    assert made[-1].text.startswith("w600 ")
    assert made[-1].text.endswith(" w999")


# ---- chunks: properties ----------------------------------------------------------------------------

SPLIT_TEXTS = st.lists(TEXTS, max_size=8)  # the pieces; their join is the text


@st.composite
def sizes(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, 12))
    return size, draw(st.integers(0, size // 2))


@settings(max_examples=400, deadline=None)
@given(pieces=SPLIT_TEXTS, size_overlap=sizes(), coalesce=st.sampled_from([1, 7, 1 << 20]))
def test_chunks_are_exact_overlapping_slices_covering_every_token(
    pieces: list[str], size_overlap: tuple[int, int], coalesce: int
) -> None:
    size, overlap = size_overlap
    step = size - overlap
    text = "".join(pieces)
    spans = list(tokens.spans(text))
    with mock.patch.object(chunking, "_COALESCE_CHARS", coalesce):
        made = list(chunks(iter(pieces), size, overlap))
        assert made == list(chunks([text], size, overlap))  # however the text is split
    if not spans:
        assert made == []
        return
    assert [chunk.index for chunk in made] == list(range(len(made)))
    for chunk in made:
        first = chunk.index * step
        last = first + chunk.tokens - 1
        # An exact slice of the text, from its first token's start to its last token's end.
        assert chunk.text == text[spans[first][0] : spans[last][1]]
        assert chunk.tokens == tokens.count(chunk.text)
        assert 0 < chunk.tokens <= size
    for before, after in itertools.pairwise(made):
        assert before.tokens == size  # only the last chunk may be short
        before_tokens = [before.text[s:e] for s, e in tokens.spans(before.text)]
        after_tokens = [after.text[s:e] for s, e in tokens.spans(after.text)]
        assert before_tokens[step:] == after_tokens[:overlap]  # exactly `overlap` tokens shared
    # Every token is in some chunk, the last one ends with the text's last token, and no chunk
    # repeats only tokens its predecessor already had.
    assert made[-1].index * step + made[-1].tokens == len(spans)
    if len(made) > 1:
        assert made[-1].tokens > overlap


@settings(max_examples=100, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.integers(0, 120), max_size=10), size_overlap=sizes())
def test_where_the_pieces_are_cut_does_not_matter(
    text: str, cuts: list[int], size_overlap: tuple[int, int]
) -> None:
    bounds = sorted({min(cut, len(text)) for cut in cuts} | {0, len(text)})
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    with mock.patch.object(chunking, "_COALESCE_CHARS", 1):
        assert list(chunks(pieces, *size_overlap)) == list(chunks([text], *size_overlap))


# ---- chunks: memory --------------------------------------------------------------------------------

SENTENCE = "Retrieval cuts every document into overlapping chunks of text, 800 tokens each. "


def generated(total: int, piece: int) -> Iterator[str]:
    """`total` characters of prose in pieces of `piece` characters, never held whole."""
    line = SENTENCE * (piece // len(SENTENCE) + 2)
    offset = 0
    for start in range(0, total, piece):
        size = min(piece, total - start)
        yield line[offset : offset + size]
        offset = (offset + size) % len(SENTENCE)


def test_a_long_text_is_chunked_in_bounded_memory() -> None:
    total = 2 * 1024 * 1024
    whole = "".join(generated(total, 64 * 1024))
    assert len(whole) == total
    all_tokens = tokens.count(whole)
    del whole
    tokens.skip(" w" * 4095, 0, 4095)  # compile the patterns first: compiling is a one-time cost

    tracemalloc.start()
    try:
        count, last = 0, None
        for chunk in chunks(generated(total, 64 * 1024)):
            count += 1
            last = chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert last is not None
    assert count == last.index + 1 == -(-(all_tokens - 800) // 400) + 1  # a chunk every 400 tokens
    assert 400 * last.index + last.tokens == all_tokens
    # The text is 2 MiB of ASCII (a byte a character), the pieces 64 KiB: what is held at once is a
    # piece or two and a chunk's text.
    assert peak < 512 * 1024, peak
