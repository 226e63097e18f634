"""SSEDecoder: the same payloads whatever the read boundaries."""

from __future__ import annotations

import json

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
