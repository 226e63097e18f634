"""ThinkSplitter: `<think>` / `</think>` in MiniMax's content, split at any point, nothing lost or doubled."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine.think import ThinkSplitter


def split(pieces: list[str], closer_only: bool = False) -> tuple[str, str, list[tuple[str, str]]]:
    """Feed the pieces, flush; return (reasoning, text, per-call outputs)."""
    splitter = ThinkSplitter(closer_only)
    outs = [splitter.feed(p) for p in pieces]
    outs.append(splitter.flush())
    return "".join(r for r, _ in outs), "".join(t for _, t in outs), outs


def reference(content: str, closer_only: bool = False) -> tuple[str, str]:
    """The rules of think.py applied to the whole content at once."""
    if content.startswith("<think>"):
        rest = content[len("<think>") :]
    elif closer_only and "</think>" in content:
        rest = content
    else:
        return "", content
    end = rest.find("</think>")
    if end < 0:
        return rest, ""
    return rest[:end], rest[end + len("</think>") :].lstrip("\r\n")


def every_cut(content: str) -> list[list[str]]:
    """The content cut into two and into three pieces at every pair of positions."""
    n = len(content)
    return [
        [content[:i], content[i:j], content[j:]]
        for i, j in itertools.combinations_with_replacement(range(n + 1), 2)
    ]


CASES = [
    ("<think>\nLet me see.\n</think>\n\nThe answer.", False, "\nLet me see.\n", "The answer."),
    ("<think></think>answer", False, "", "answer"),
    ("<think>a < b and </thin c</think>\n\n\r\nx\n\ny", False, "a < b and </thin c", "x\n\ny"),
    ("<think>unfinished </thi", False, "unfinished </thi", ""),
    ("<thi", False, "", "<thi"),
    ("a <thin b", False, "", "a <thin b"),
    ("<thinking>x</think>", False, "", "<thinking>x</think>"),
    (" <think>x</think>y", False, "", " <think>x</think>y"),
    ("answer <think>not thinking</think>", False, "", "answer <think>not thinking</think>"),
    ("<think>r</think>\n\n  spaced\n", False, "r", "  spaced\n"),
    ("<think>r</think>\n\n", False, "r", ""),
    ("closer only</think>\n\nanswer", True, "closer only", "answer"),
    ("no thinking at all", True, "", "no thinking at all"),
    ("<think>both</think>\n\nanswer", True, "both", "answer"),
    ("emoji 🤔</think>\n\n答案", True, "emoji 🤔", "答案"),
]


@pytest.mark.parametrize(("content", "closer_only", "reasoning", "text"), CASES)
def test_every_cut_gives_the_same_split(content: str, closer_only: bool, reasoning: str, text: str) -> None:
    assert reference(content, closer_only) == (reasoning, text)
    for pieces in every_cut(content):
        assert split(pieces, closer_only)[:2] == (reasoning, text), pieces


def test_reasoning_is_released_as_it_comes_and_only_a_possible_closer_is_held() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<th") == ("", "")  # could still be the opener
    assert splitter.feed("ink>\nabc") == ("\nabc", "")
    assert splitter.feed(" x </th") == (" x ", "")  # `</th` may be a split closer
    assert splitter.feed("ere") == ("</there", "")
    assert splitter.feed("<") == ("", "")
    assert splitter.feed("/think>\n") == ("", "")
    assert splitter.feed("\nHi") == ("", "Hi")  # the newlines right after the closer are dropped
    assert splitter.feed("\n\n</think>") == ("", "\n\n</think>")  # after thinking, everything is answer
    assert splitter.flush() == ("", "")


def test_an_answer_without_thinking_is_never_held() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("Hello") == ("", "Hello")
    assert splitter.feed("<think>") == ("", "<think>")


def test_closer_only_holds_until_the_closer_or_the_end() -> None:
    splitter = ThinkSplitter(closer_only=True)
    assert splitter.feed("I think") == ("", "")
    assert splitter.feed(" hard</thi") == ("", "")
    assert splitter.feed("nk>\n\nDone") == ("I think hard", "Done")
    plain = ThinkSplitter(closer_only=True)
    assert plain.feed("Just an answer") == ("", "")
    assert plain.flush() == ("", "Just an answer")


def test_settle_releases_held_content_as_answer_before_a_tool_call() -> None:
    splitter = ThinkSplitter(closer_only=True)
    assert splitter.feed("Let me check.") == ("", "")
    assert splitter.settle() == ("", "Let me check.")
    assert splitter.feed(" more") == ("", " more")
    thinking = ThinkSplitter()
    assert thinking.feed("<think>abc</th") == ("abc", "")
    assert thinking.settle() == ("", "")  # inside thinking nothing is decided by a tool call
    assert thinking.feed("ink>x") == ("", "x")
    empty = ThinkSplitter()
    assert empty.settle() == ("", "")
    assert empty.feed("<think>r</think>a") == ("r", "a")  # nothing was held: the start is still open


@pytest.mark.parametrize("cut", range(1, 8))
def test_a_stray_closer_in_an_unopened_answer_is_flagged_but_kept(cut: int) -> None:
    splitter = ThinkSplitter()
    tail = "</think>\n\nanswer"
    assert split(["thinking", tail[:cut], tail[cut:]])[1] == "thinking" + tail
    splitter.feed("thinking" + tail[:cut])
    assert not splitter.unopened_closer
    splitter.feed(tail[cut:])
    assert splitter.unopened_closer
    opened = ThinkSplitter()
    opened.feed("<think>x</think>y </think>")
    assert not opened.unopened_closer  # a closer after real thinking is just answer text


TAGS = ["<think>", "</think>", "<", ">", "</", "<th", "</thin", "think>", "\n", "\n\n", "\r\n", " "]
fragment = st.one_of(st.sampled_from(TAGS), st.text(min_size=1, max_size=6))
content_text = st.lists(fragment, max_size=12).map("".join)


@st.composite
def cut_up(draw: st.DrawFn) -> tuple[str, list[str]]:
    shape = draw(st.sampled_from(["inline", "closer", "plain"]))
    reasoning, answer = draw(content_text), draw(content_text)
    if shape == "inline":
        content = f"<think>{reasoning}</think>\n\n{answer}"
    elif shape == "closer":
        content = f"{reasoning}</think>\n\n{answer}"
    else:
        content = answer
    points = sorted(draw(st.lists(st.integers(0, len(content)), max_size=10)))
    bounds = [0, *points, len(content)]
    return content, [content[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=600, deadline=None)
@given(cut_up(), st.booleans())
def test_random_content_and_cuts_match_the_whole_content_reading(
    case: tuple[str, list[str]], closer: bool
) -> None:
    content, pieces = case
    reasoning, text, outs = split(pieces, closer)
    assert (reasoning, text) == reference(content, closer)
    seen_text = False
    for r, t in outs:  # reasoning never follows answer text
        assert not (seen_text and r)
        seen_text = seen_text or bool(t)
