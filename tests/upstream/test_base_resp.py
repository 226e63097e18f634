"""One rule for MiniMax's `base_resp` on both backends: a code as a string of digits is that failure, a
code of no known form is still a failure (1000), only an absent, zero or empty code is success, and a
`code` key counts where `status_code` is absent."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.bridge.frames import parse_frame
from gateway.engine.chat import rejection
from gateway.engine.chunks import ChatStreamDecoder, ChatStreamError
from gateway.upstream.base_resp import failure_code


@pytest.mark.parametrize(
    ("base", "code"),
    [
        ({}, None),
        ({"status_code": 0, "status_msg": ""}, None),
        ({"status_code": "0"}, None),
        ({"status_code": ""}, None),
        ({"status_code": False}, None),
        ({"status_code": 1004}, 1004),
        ({"status_code": "1004"}, 1004),
        ({"status_code": " 1002 "}, 1002),
        ({"code": 2013, "message": "bad"}, 2013),
        ({"status_code": "oops"}, 1000),
        ({"status_code": 1.5}, 1000),
    ],
)
def test_failure_codes(base: dict[str, Any], code: int | None) -> None:
    assert failure_code(base) == code


def test_the_bridge_reads_a_string_code_as_the_failure_it_is() -> None:
    frame = parse_frame(
        orjson.dumps({"data": {"object": "run"}, "base_resp": {"status_code": "1004", "status_msg": "auth"}})
    )
    assert frame is not None and frame.kind == "error"
    assert frame.data == {"code": 1004, "message": "auth"}


def test_the_engines_stream_reads_a_code_key_too() -> None:
    decoder = ChatStreamDecoder()
    with pytest.raises(ChatStreamError) as caught:
        decoder.feed(
            orjson.dumps({"id": "x", "choices": [], "base_resp": {"code": "1002", "message": "slow down"}})
        )
    assert caught.value.code == 1002


def test_the_engines_rejection_reads_a_string_code() -> None:
    error = rejection(200, orjson.dumps({"base_resp": {"status_code": "1008", "status_msg": "no balance"}}))
    assert error.status == 429 and error.code == "insufficient_quota"
