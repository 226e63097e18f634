"""The citation scanner: markers found however the text is split, exact text, offsets into the whole
message, made-up markers left as text."""

from __future__ import annotations

import itertools
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine.citations import MAX_MARKER, Citations, marker

KNOWN = {marker(0, 0, "handbook.pdf"): "file-a", marker(0, 1, "退款政策.txt"): "file-b"}
FORGED = marker(0, 7, "handbook.pdf")


def run(pieces: list[str], markers: dict[str, str] = KNOWN) -> tuple[str, list[dict[str, Any]], int]:
    scanner = Citations(markers)
    out = [p for piece in pieces for p in scanner.feed(piece)] + scanner.finish()
    text = "".join(p[0] for p in out)
    annotations = [a for p in out for a in p[1]]
    return text, annotations, len(out)


def expected(text: str, markers: dict[str, str] = KNOWN) -> list[dict[str, Any]]:
    found = []
    for m in re.finditer("【[^【】\n]*】", text):
        if m.group() in markers:
            found.append((m.start(), m.group()))
    return [
        {
            "type": "file_citation",
            "text": g,
            "start_index": s,
            "end_index": s + len(g),
            "file_citation": {"file_id": markers[g]},
        }
        for s, g in found
    ]


def test_a_marker_split_across_chunks_is_found_whole() -> None:
    text = f"Refunds take 30 days {marker(0, 0, 'handbook.pdf')}. Also {FORGED} and 【unclosed"
    pieces = [
        "Refunds take 30 days 【0",
        ":0†hand",
        "book.pdf】. Also ",
        FORGED[:3],
        FORGED[3:],
        " and 【unclosed",
    ]
    got, annotations, _ = run(pieces)
    assert got == text
    assert annotations == expected(text)
    assert [a["file_citation"]["file_id"] for a in annotations] == ["file-a"]  # the forged one is text


def test_plain_text_passes_through_piece_for_piece() -> None:
    scanner = Citations(KNOWN)
    assert scanner.feed("hello ") == [("hello ", [])]
    assert scanner.feed("") == []
    assert scanner.feed("world") == [("world", [])]
    assert scanner.finish() == []


def test_text_held_after_an_opening_bracket_is_released_when_it_cannot_be_a_marker() -> None:
    scanner = Citations(KNOWN)
    assert scanner.feed("a【b") == [("a", [])]
    assert scanner.feed("c\nd") == [("【bc\nd", [])]  # a line break: no marker
    scanner.feed("【")
    released = scanner.feed("x" * MAX_MARKER)
    assert "".join(p for p, _ in released) == "【" + "x" * MAX_MARKER


def test_offsets_count_characters_of_the_whole_message() -> None:
    cjk = marker(0, 1, "退款政策.txt")
    text = f"退款政策{cjk}，以及{marker(0, 0, 'handbook.pdf')}"  # noqa: RUF001
    got, annotations, _ = run([text[:5], text[5:9], text[9:]])
    assert got == text and annotations == expected(text)
    assert [text[a["start_index"] : a["end_index"]] for a in annotations] == [a["text"] for a in annotations]


parts = st.sampled_from([*KNOWN, FORGED, "【", "】", "\n", "text ", "退款", "†", "0:0", "【0:"])


@given(st.lists(parts, max_size=25), st.lists(st.integers(0, 400), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_split_gives_the_same_exact_text_and_annotations(chunks: list[str], cuts: list[int]) -> None:
    text = "".join(chunks)
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    got, annotations, _ = run(pieces)
    assert got == text
    assert annotations == expected(text)


# -- links to files code wrote (code_interpreter's `file_path`) ---------------------------------------

PATHS = {"report.csv": "file-r", "chart 2.png": "file-c"}
LINK = "sandbox:/mnt/data/report.csv"


def linked(text: str) -> list[dict[str, Any]]:
    """The annotations the text should get: citations and file paths, in order of their place."""
    found: list[tuple[int, dict[str, Any]]] = [(a["start_index"], a) for a in expected(text)]
    at, taken = text.find("sandbox:/mnt/data/"), 0
    while at >= 0:
        m = re.compile(r"sandbox:/mnt/data/[^\s)\]\"'<>`【]*").match(text, at)
        assert m is not None
        name = m.group()[len("sandbox:/mnt/data/") :]
        while name not in PATHS and name and name[-1] in ".,;:!?":
            name = name[:-1]
        if at >= taken and name in PATHS:
            link = f"sandbox:/mnt/data/{name}"
            annotation = {
                "type": "file_path",
                "text": link,
                "start_index": at,
                "end_index": at + len(link),
                "file_path": {"file_id": PATHS[name]},
            }
            found.append((at, annotation))
            taken = at + len(link)
        at = text.find("sandbox:/mnt/data/", max(at + 1, taken))
    return [a for _, a in sorted(found, key=lambda f: f[0])]


def run_links(pieces: list[str]) -> tuple[str, list[dict[str, Any]]]:
    scanner = Citations(KNOWN, PATHS)
    out = [p for piece in pieces for p in scanner.feed(piece)] + scanner.finish()
    return "".join(p[0] for p in out), [a for p in out for a in p[1]]


def test_a_link_to_a_written_file_is_a_file_path_annotation_however_split() -> None:
    text = f"Download it: [report]({LINK}). Also {LINK}, and sandbox:/mnt/data/other.csv stays text."
    for size in (1, 2, 5, 17, len(text)):
        got, annotations = run_links([text[i : i + size] for i in range(0, len(text), size)])
        assert got == text
        assert [(a["type"], a["text"], a["file_path"]["file_id"]) for a in annotations] == [
            ("file_path", LINK, "file-r"),
            ("file_path", LINK, "file-r"),
        ]
        assert all(text[a["start_index"] : a["end_index"]] == LINK for a in annotations)


def test_a_link_that_ends_the_reply_is_annotated_and_plain_text_is_not_held() -> None:
    got, annotations = run_links(["see sandbox:/mnt/data/rep", "ort.csv"])
    assert got == f"see {LINK}" and [a["start_index"] for a in annotations] == [4]
    scanner = Citations({}, PATHS)
    assert scanner.feed("plain text") == [("plain text", [])]  # nothing that may begin a link
    assert scanner.feed(" then sand") == [(" then ", [])]  # may begin one: held
    assert scanner.feed("wich") == [("sandwich", [])]  # cannot: shown


link_parts = st.sampled_from(
    [
        LINK,
        "sandbox:/mnt/data/",
        "report.csv",
        "chart 2.png",
        "sand",
        "box:",
        ".",
        ")",
        " ",
        "\n",
        "【",
        *KNOWN,
    ]
)


@given(st.lists(link_parts, max_size=25), st.lists(st.integers(0, 400), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_split_of_links_gives_the_same_exact_text_and_annotations(
    chunks: list[str], cuts: list[int]
) -> None:
    text = "".join(chunks)
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    got, annotations = run_links([text[a:b] for a, b in itertools.pairwise(bounds)])
    assert got == text
    assert annotations == linked(text)
