"""parse_frame: every envelope and tag variant MiniMax may use; objects of no known kind yield None,
and what is not a JSON object raises (it may have carried text)."""

from __future__ import annotations

import pytest

from gateway.bridge.frames import UnreadableFrame, parse_frame


@pytest.mark.parametrize(
    "base_resp", ["{}", '{"status_code": 0, "status_msg": "success"}', '{"code": 0, "message": ""}', "null"]
)
@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("run", "run"),
        ("thread.run", "run"),
        ("message", "message"),
        ("run step", "step"),
        ("thread.run.step", "step"),
    ],
)
def test_success_envelopes(base_resp: str, tag: str, kind: str) -> None:
    frame = parse_frame(f'{{"data": {{"object": "{tag}", "id": "x"}}, "base_resp": {base_resp}}}'.encode())
    assert frame is not None and frame.kind == kind and frame.data.get("id") == "x"


@pytest.mark.parametrize(
    "body",
    [
        b'{"base_resp": {"status_code": 1002, "status_msg": "rate"}}',
        b'{"data": {"object": "run"}, "base_resp": {"code": 1002, "message": "rate"}}',
    ],
)
def test_error_envelopes(body: bytes) -> None:
    frame = parse_frame(body)
    assert frame is not None and frame.kind == "error"
    assert frame.data == {"code": 1002, "message": "rate"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"object": "weird"}}',
        b'{"data": {"object": ["run"]}}',  # an unhashable tag must not raise
        b'{"data": null}',
    ],
)
def test_objects_of_no_known_kind_are_none(body: bytes) -> None:
    assert parse_frame(body) is None


@pytest.mark.parametrize(
    "body",
    [b"ping", b"[1]", b"{", b'{"data": {"object": "message", "content": [{"text": '],
)
def test_what_is_not_a_json_object_raises(body: bytes) -> None:
    with pytest.raises(UnreadableFrame):
        parse_frame(body)
