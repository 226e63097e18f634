"""MiniMax failures on the engine, end to end: rejected before any event (an HTTP error the SDK raises,
the run stored `failed`) and failing after the stream started (`thread.run.failed`, the text so far kept)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from gateway.emulator.chat.model import reply_for
from gateway.emulator.chat.request import parse_chat_request
from gateway.emulator.config import EmulatorConfig
from tests.engine.helpers_e2e import (
    Stack,
    assistant,
    delta_texts,
    messages,
    post_events,
    stack,
    text_of,
    thread,
    token,
    wait_run,
)
from tests.stream_checks import check

FIRST_BYTE = 0.5


@pytest.fixture(scope="module")
def compat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """MiniMax's OpenAI-compatible error shape (a real status, `{"type": "error", ...}`)."""
    with stack(EmulatorConfig(), tmp_path_factory.mktemp("compat"), first_byte_timeout=FIRST_BYTE) as s:
        yield s


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """MiniMax's native error shape (HTTP 200 with a failing `base_resp`)."""
    with stack(EmulatorConfig(chat_thinking="split"), tmp_path_factory.mktemp("native"), native=True) as s:
        yield s


RATE = (openai.RateLimitError, 429, "rate_limit_exceeded")
QUOTA = (openai.RateLimitError, 429, "insufficient_quota")
AUTH = (openai.AuthenticationError, 401, None)
BAD = (openai.BadRequestError, 400, None)
UPSTREAM = (openai.InternalServerError, 502, None)
BEFORE = {
    "error_before:1004": AUTH,
    "http:401": AUTH,
    "error_before:1002": RATE,
    "error_before:2045": RATE,
    "error_before:2056": RATE,
    "http:429": RATE,
    "error_before:1008": QUOTA,
    "http:402": QUOTA,
    "error_before:2013": BAD,
    "error_before:1000": UPSTREAM,
    "http:500": UPSTREAM,
    "stall:0:3": (openai.InternalServerError, 504, None),
}
NATIVE = [f for f in BEFORE if f.startswith("error_before:")]


def rejected(s: Stack, fault: str, expected: tuple[type[openai.APIStatusError], int, str | None]) -> None:
    """A streamed run whose MiniMax request fails at once: the SDK raises, the run is stored failed."""
    error_class, status, code = expected
    tok = token()
    sdk = s.sdk()
    assistant_id = sdk.beta.assistants.create(model="MiniMax-M2.7").id
    thread_id = sdk.beta.threads.create(messages=[{"role": "user", "content": f"{tok} [[fault:{fault}]]"}]).id
    with (
        pytest.raises(openai.APIStatusError) as caught,
        sdk.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream,
    ):
        stream.until_done()
    assert type(caught.value) is error_class, caught.value
    assert caught.value.status_code == status
    if code is not None:
        assert caught.value.code == code
    body = caught.value.body
    assert isinstance(body, dict) and {"message", "type", "code"} <= set(body), body
    (run,) = sdk.beta.threads.runs.list(thread_id).data
    assert run.status == "failed", run
    assert run.last_error is not None
    if code == "rate_limit_exceeded":
        assert run.last_error.code == "rate_limit_exceeded"
    assert sdk.beta.threads.messages.list(thread_id).data[0].role == "user"  # no reply was started
    assert len(s.requests_with(tok)) == 1  # answered, not retried


@pytest.mark.parametrize("fault", list(BEFORE))
def test_rejections_before_any_event_compatible_shape(compat: Stack, fault: str) -> None:
    rejected(compat, fault, BEFORE[fault])


@pytest.mark.parametrize("fault", NATIVE)
def test_rejections_before_any_event_native_shape(native: Stack, fault: str) -> None:
    rejected(native, fault, BEFORE[fault])


AFTER = {
    "error_chunk:40:1002": "rate_limit_exceeded",
    "error_chunk:40:1027": "invalid_prompt",
    "error_chunk:40:1000": "server_error",
    "cut:40": None,
    "malformed:40": None,
}
PACED = ",pace:2"  # one chunk per read: the text is streamed before the fault arrives


@pytest.fixture(scope="module", params=[0, 10], ids=["first-read", "later-read"])
def one_write(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The text and the fault after it come in the same read: the stream's first read, or a later one
    (the first 10 chunks, all thinking, read apart before)."""
    with stack(EmulatorConfig(), tmp_path_factory.mktemp("one_write"), one_write=request.param) as s:
        yield s


@pytest.mark.parametrize("shape", ["compat", "native"])
@pytest.mark.parametrize("fault", list(AFTER))
def test_failures_after_the_stream_started_keep_the_text(
    compat: Stack, native: Stack, shape: str, fault: str
) -> None:
    failed_midway(compat if shape == "compat" else native, fault, PACED)


@pytest.mark.parametrize("fault", list(AFTER))
def test_a_fault_read_together_with_text_keeps_the_text(one_write: Stack, fault: str) -> None:
    failed_midway(one_write, fault, "")


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(EmulatorConfig(), tmp_path_factory.mktemp("quiet"), idle_timeout=1.0) as s:
        yield s


def test_a_silence_past_the_idle_timeout_fails_the_run_keeping_the_text(quiet: Stack) -> None:
    """MiniMax stops for longer than `idle_timeout` after some text (the sweep of `IdleWatch`)."""
    failed_midway(quiet, "stall:40:5", PACED, code="server_error")


def failed_midway(s: Stack, fault: str, pace: str, code: str | None = None) -> None:
    """A streamed run whose MiniMax stream fails after some answer text: failed, that text kept."""
    tok = token()
    client = s.http(s.key())
    assistant_id = assistant(client)
    thread_id = thread(client, f"{tok} tell me a long story [[fault:{fault}{pace}]]")
    events = post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": assistant_id})
    transcript = check(events)
    names = [n for n, _ in events]
    assert names[-1] == "thread.run.failed" and "thread.run.completed" not in names
    final = transcript.final_run
    assert final is not None and final["last_error"] is not None
    if (code := code or AFTER[fault]) is not None:
        assert final["last_error"]["code"] == code

    full = reply_for(parse_chat_request(s.requests_with(tok)[0]), "k").text
    (streamed,) = delta_texts(events).values()
    assert streamed and full.startswith(streamed) and streamed != full
    assert "thread.message.incomplete" in names
    stored = wait_run(client, thread_id, final["id"])
    assert stored["status"] == "failed" and stored["last_error"] == final["last_error"]
    reply = messages(client, thread_id)[-1]
    assert reply["role"] == "assistant" and reply["status"] == "incomplete"
    assert text_of(reply) == streamed
