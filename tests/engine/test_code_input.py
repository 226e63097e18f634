"""CodeInput: the `code` of streamed code_interpreter arguments, decoded as it arrives, is exactly the
string the whole arguments hold, however MiniMax cuts them (escapes and surrogate pairs included), and
arguments of any other form are refused at the end."""

from __future__ import annotations

import itertools
import json
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine.code_input import BadArguments, CodeInput

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
codes = st.text(st.characters(blacklist_categories=SURROGATES), max_size=80) | st.sampled_from(
    ['print("hi")\n', "a = '\\\\'\nprint(a)", "x = 1\t# é 🌍 中文", "", "\\u0041"]
)
extra = st.dictionaries(
    st.sampled_from(["lang", "note", "n", "opts"]),
    st.one_of(
        st.text(max_size=10),
        st.integers(),
        st.none(),
        st.lists(st.text(max_size=4), max_size=3),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    ),
    max_size=3,
)


def pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@given(codes, extra, st.booleans(), st.booleans(), st.lists(st.integers(0, 400), max_size=12))
@settings(max_examples=400, deadline=None)
def test_any_cut_streams_exactly_the_code(
    code: str, others: dict[str, object], ascii_only: bool, code_first: bool, cuts: list[int]
) -> None:
    args = {"code": code, **others} if code_first else {**others, "code": code}
    raw = json.dumps(args, ensure_ascii=ascii_only, indent=None if cuts else 1)
    decoder = CodeInput()
    streamed = "".join(decoder.feed(p) for p in pieces(raw, cuts))
    assert streamed == code
    assert decoder.finish() == code


def test_text_comes_out_as_it_arrives_holding_only_a_cut_escape() -> None:
    decoder = CodeInput()
    assert decoder.feed('{"co') == ""
    assert decoder.feed('de": "print(1)') == "print(1)"
    assert decoder.feed("\\") == ""  # half an escape: held
    assert decoder.feed('nx = \\"\\u00') == '\nx = "'
    assert decoder.feed('e9\\"') == 'é"'
    assert decoder.feed("\\ud83c") == ""  # half a surrogate pair: held
    assert decoder.feed('\\udf0d"}') == "🌍"
    assert decoder.finish() == 'print(1)\nx = "é"🌍'


@pytest.mark.parametrize(
    "raw",
    ['{"code": 5}', '["code"]', '{"code": "unterminated', '"print(1)"', '{"script": "print(1)"}', "{}"],
)
def test_arguments_of_another_form_are_refused(raw: str) -> None:
    decoder = CodeInput()
    decoder.feed(raw)
    with pytest.raises(BadArguments):
        decoder.finish()


def test_code_given_twice_is_refused_as_it_streams() -> None:
    with pytest.raises(BadArguments, match="twice"):
        CodeInput().feed('{"code": "a", "code": "b"}')


def test_an_invalid_escape_is_refused() -> None:
    with pytest.raises(BadArguments, match="escape"):
        CodeInput().feed('{"code": "\\q"}')
