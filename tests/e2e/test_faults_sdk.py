"""Upstream faults, injected by the emulator per request, as the Python SDK sees them through the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.replies import text_reply
from gateway.loopback import ServerThread
from gateway.settings import Settings

QUESTION = "Tell me something long enough to stream in many frames, please."


@pytest.fixture(scope="module")
def sdk() -> Iterator[openai.OpenAI]:
    with (
        ServerThread(create_emulator_app(EmulatorConfig())) as upstream,
        ServerThread(
            create_app(Settings(backend="assistants", minimax_base_url=upstream.url, idle_timeout=0.5))
        ) as gateway,
    ):
        yield openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-test", max_retries=0)


def stream_run(sdk: openai.OpenAI, fault: str) -> tuple[str, openai.types.beta.threads.Run]:
    assistant = sdk.beta.assistants.create(model="abab6.5s-chat")
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    deltas: list[str] = []
    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, metadata={"emulator_fault": fault}
    ) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                deltas.extend(
                    c.text.value or "" for c in event.data.delta.content or () if c.type == "text" and c.text
                )
        run = stream.get_final_run()
    return "".join(deltas), run


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("error_frame:6", "server_error"),
        ("error_frame:6:1002", "rate_limit_exceeded"),
        ("cut:6", "server_error"),
        ("stall:6:3", "server_error"),
        ("malformed:6", "server_error"),  # it may have carried text: never skipped
    ],
)
def test_failures_after_the_stream_started_end_in_run_failed(
    sdk: openai.OpenAI, fault: str, code: str
) -> None:
    text, run = stream_run(sdk, fault)
    assert run.status == "failed"
    assert run.last_error is not None and run.last_error.code == code
    assert text_reply(QUESTION).startswith(text)  # what arrived is an exact prefix: nothing doubled


@pytest.mark.parametrize("fault", ["stall:5:0.1"])
def test_tolerated_faults_still_deliver_everything(sdk: openai.OpenAI, fault: str) -> None:
    text, run = stream_run(sdk, fault)
    assert run.status == "completed"
    assert text == text_reply(QUESTION)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("error_body:1004", openai.AuthenticationError),
        ("error_body:1002", openai.RateLimitError),
        ("error_body:2013", openai.BadRequestError),
        ("http_status:429", openai.RateLimitError),
        ("http_status:500", openai.InternalServerError),
    ],
)
def test_rejections_before_the_stream_raise_the_sdk_error_class(
    sdk: openai.OpenAI, fault: str, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as caught:
        stream_run(sdk, fault)
    assert caught.value.body is not None and "message" in caught.value.body  # type: ignore[operator]
