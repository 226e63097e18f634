"""SSEDecoder: the same payloads whatever the read boundaries."""

from __future__ import annotations

import json
import random

import pytest

from gateway.upstream.sse_decoder import SSEDecoder

FRAMES = [
    json.dumps({"data": {"object": "message", "text": t}}, ensure_ascii=False)
    for t in ["Hel", "你好 🌍", "x" * 70000, "end"]
]


def stream(eol: str) -> bytes:
    return "".join(f"data: {f}{eol}{eol}" for f in FRAMES).encode()


def decode(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out = [p for c in chunks for p in decoder.feed(c)] + decoder.finish()
    return [p.decode() for p in out]


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_split_at_every_byte_offset(eol: str) -> None:
    raw = stream(eol)
    small = raw[:200]
    for cut in range(1, len(small)):
        assert decode([raw[:cut], raw[cut:]]) == FRAMES
    for cut in range(len(raw) - 300, len(raw)):
        assert decode([raw[:cut], raw[cut:]]) == FRAMES


def test_byte_at_a_time_and_all_at_once() -> None:
    raw = stream("\n")
    assert decode([raw]) == FRAMES
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == FRAMES


def test_multibyte_character_split_across_reads() -> None:
    raw = "data: 你好\n\n".encode()
    cut = raw.index("好".encode()) + 1
    assert decode([raw[:cut], raw[cut:]]) == ["你好"]


def test_comments_fields_and_multiline_data() -> None:
    raw = b": keep-alive\nevent: x\nid: 3\nretry: 10\ndata: a\ndata:b\n\n"
    assert decode([raw]) == ["a\nb"]


def test_bare_json_error_body_and_unterminated_last_event() -> None:
    assert decode([b'{"base_resp": {"status_code": 1004}}']) == ['{"base_resp": {"status_code": 1004}}']
    assert decode([b"data: last"]) == ["last"]


def reference(raw: bytes) -> list[bytes]:
    """The event-stream rules read line by line, the plain way: the oracle for the decoder."""
    out: list[bytes] = []
    data: list[bytes] = []
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    for line in lines:
        if not line:
            if data:
                out.append(b"\n".join(data))
                data = []
        elif line.startswith(b"data:"):
            data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"{"):
            out.append(line)
    if data:
        out.append(b"\n".join(data))
    return out


PIECES = [
    b"data: plain\n\n",
    b'data: {"a": 1}\n\n',
    b": keep-alive\n\n",
    b"event: message\ndata: with event\n\n",
    b"data: two\ndata: lines\n\n",
    b"data:nospace\n\n",
    b'{"base_resp": {"status_code": 1004}}\n',
    b"\n",
    b"id: 7\nretry: 100\n\n",
    b"data: crlf\r\n\r\n",
    b"data: \xe4\xbd\xa0\xe5\xa5\xbd\n\n",
]


@pytest.mark.parametrize("seed", range(60))
def test_random_streams_and_splits_match_the_line_by_line_reading(seed: int) -> None:
    rng = random.Random(seed)
    raw = b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
    if rng.random() < 0.3:
        raw += b"data: unterminated"
    expected = reference(raw)
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(0, 12))))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    decoder = SSEDecoder()
    got = [p for c in chunks for p in decoder.feed(c)] + decoder.finish()
    assert got == expected, (raw, cuts)


WHOLE = [b"data: plain\n\n", b"data: \n\n", b"data: cr kept apart\r\n\n", b"data: \xe4\xbd\xa0\n\n"]


@pytest.mark.parametrize("seed", range(40))
def test_reads_of_one_whole_event_each_match_the_line_by_line_reading(seed: int) -> None:
    """A read that is one whole `data: X` LF LF event is the decoder's shortcut: it must give what the
    rules give, also for an empty one, a CR before the line end, and right after a read that left a
    line or an event unfinished."""
    rng = random.Random(seed)
    reads = [rng.choice(WHOLE + PIECES) for _ in range(rng.randint(1, 30))]
    for _ in range(rng.randint(0, 3)):  # an unfinished line or event before a whole one
        at = rng.randrange(len(reads) + 1)
        reads[at:at] = [rng.choice([b"data: half", b"data: first line\n", b": comment"])]
    raw = b"".join(reads)
    decoder = SSEDecoder()
    got = [p for r in reads for p in decoder.feed(r)] + decoder.finish()
    assert got == reference(raw), reads


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_each_event_comes_out_of_the_read_that_completes_it(eol: str) -> None:
    raw = "".join(f"data: {f}{eol}{eol}" for f in ["a", "bc", "", "def"]).encode() + b": c" + eol.encode() * 2
    decoder = SSEDecoder()
    out: list[bytes] = []
    for k in range(len(raw)):  # a byte per read: every blank line is split from its line end once
        out += decoder.feed(raw[k : k + 1])
        done = raw[: k + 1].replace(b"\r\n", b"\n").count(b"\n\n")
        assert len(out) == min(done, 4), k  # four data events (one empty); the comment adds none
