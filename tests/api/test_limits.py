"""OpenAI's documented limits, enforced at the edge on both backends: a violation is a 400 whose
`param` is OpenAI's field path; values at the limit pass, and the JSON the backends read is kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from gateway.api.parsing import field_path
from gateway.emulator.config import EmulatorConfig
from gateway.schemas.openai import (
    AssistantIn,
    AssistantPatch,
    MessageIn,
    RunIn,
    SubmitToolOutputsIn,
    ThreadAndRunIn,
    ThreadIn,
)
from tests.e2e.conftest import serve

AUTH = {"Authorization": "Bearer k"}
USER = {"role": "user", "content": "hi"}
FN = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def asst(**fields: Any) -> tuple[str, dict[str, Any]]:
    return "/assistants", {"model": "MiniMax-M2.7", **fields}


def run(**fields: Any) -> tuple[str, dict[str, Any]]:
    return "/threads/thread_x/runs", {"assistant_id": "asst_x", **fields}


def msgs(*messages: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return run(additional_messages=list(messages))


# (path, body, param, code): each violates exactly one limit.
VIOLATIONS = [
    (*asst(name="n" * 257), "name", "string_above_max_length"),
    (*asst(description="d" * 513), "description", "string_above_max_length"),
    (*asst(instructions="i" * 256_001), "instructions", "string_above_max_length"),
    (*asst(metadata={f"k{i}": "v" for i in range(17)}), "metadata", None),
    (*asst(metadata={"k" * 65: "v"}), "metadata", None),
    (*asst(metadata={"k": "v" * 513}), "metadata", None),
    (*asst(temperature=2.01), "temperature", "decimal_above_max_value"),
    (*asst(temperature=-0.1), "temperature", "decimal_below_min_value"),
    (*asst(top_p=1.5), "top_p", "decimal_above_max_value"),
    (*asst(tools=[FN] * 129), "tools", "array_above_max_length"),
    (
        *asst(tools=[FN, FN, FN, {"type": "function", "function": {"name": "no spaces"}}]),
        "tools[3].function.name",
        None,
    ),
    (*asst(tools=[FN, {"type": "function", "function": {"name": "x" * 65}}]), "tools[1].function.name", None),
    (*asst(tools=[{"type": "function"}]), "tools[0].function", "missing_required_parameter"),
    (
        *asst(tools=[{"type": "function", "function": {}}]),
        "tools[0].function.name",
        "missing_required_parameter",
    ),
    (*asst(tools=["function"]), "tools[0]", None),
    (
        *asst(tools=[{"type": "file_search", "file_search": {"max_num_results": 51}}]),
        "tools[0].file_search.max_num_results",
        "integer_above_max_value",
    ),
    (
        *asst(tool_resources={"code_interpreter": {"file_ids": ["f"] * 21}}),
        "tool_resources.code_interpreter.file_ids",
        "array_above_max_length",
    ),
    (
        *asst(tool_resources={"file_search": {"vector_store_ids": ["a", "b"]}}),
        "tool_resources.file_search.vector_store_ids",
        "array_above_max_length",
    ),
    (*asst(response_format={"type": "xml"}), "response_format.type", None),
    (*asst(response_format="json"), "response_format", None),
    (
        *asst(response_format={"type": "json_schema", "json_schema": {"name": "a b"}}),
        "response_format.json_schema.name",
        None,
    ),
    (
        *asst(response_format={"type": "json_schema"}),
        "response_format.json_schema",
        "missing_required_parameter",
    ),
    (*asst(reasoning_effort="extreme"), "reasoning_effort", None),
    ("/assistants/asst_x", {"name": "n" * 257}, "name", "string_above_max_length"),
    ("/assistants/asst_x", {"temperature": 3}, "temperature", "decimal_above_max_value"),
    (
        "/assistants/asst_x",
        {"tools": [{"type": "function", "function": {"name": "a.b"}}]},
        "tools[0].function.name",
        None,
    ),
    (*run(instructions="i" * 256_001), "instructions", "string_above_max_length"),
    (*run(additional_instructions="i" * 256_001), "additional_instructions", "string_above_max_length"),
    (*run(tools=[FN] * 21), "tools", "array_above_max_length"),
    (*run(max_prompt_tokens=255), "max_prompt_tokens", "integer_below_min_value"),
    (*run(max_completion_tokens=0), "max_completion_tokens", "integer_below_min_value"),
    (*run(top_p=-1), "top_p", "decimal_below_min_value"),
    (*run(truncation_strategy={"type": "middle"}), "truncation_strategy.type", None),
    (
        *run(truncation_strategy={"type": "last_messages"}),
        "truncation_strategy.last_messages",
        "missing_required_parameter",
    ),
    (
        *run(truncation_strategy={"type": "last_messages", "last_messages": 0}),
        "truncation_strategy.last_messages",
        "integer_below_min_value",
    ),
    (*run(tool_choice="sometimes"), "tool_choice", None),
    (*run(tool_choice={"type": "function"}), "tool_choice.function", "missing_required_parameter"),
    (*run(tool_choice={"type": "browser"}), "tool_choice.type", None),
    (*run(metadata={"k": 1}), "metadata.k", None),
    (
        *msgs(USER, {"role": "user", "content": "c" * 256_001}),
        "additional_messages[1].content",
        "string_above_max_length",
    ),
    (
        *msgs({"role": "user", "content": [{"type": "text", "text": "c" * 256_001}]}),
        "additional_messages[0].content[0].text",
        "string_above_max_length",
    ),
    (*msgs({"role": "user", "content": []}), "additional_messages[0].content", "empty_array"),
    (*msgs({"role": "user", "content": [{"type": "audio"}]}), "additional_messages[0].content[0].type", None),
    (
        *msgs({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}),
        "additional_messages[0].content[0].image_url.url",
        "missing_required_parameter",
    ),
    (*msgs({"role": "system", "content": "c"}), "additional_messages[0].role", None),
    (*msgs(*[USER] * 33), "additional_messages", "array_above_max_length"),
    ("/threads", {"messages": [USER] * 33}, "messages", "array_above_max_length"),
    (
        "/threads",
        {
            "messages": [
                {
                    "role": "user",
                    "content": "c",
                    "attachments": [{"file_id": "f", "tools": [{"type": "function"}]}],
                }
            ]
        },
        "messages[0].attachments[0].tools[0].type",
        None,
    ),
    (
        "/threads/runs",
        {"assistant_id": "a", "thread": {"messages": [USER] * 33}},
        "thread.messages",
        "array_above_max_length",
    ),
    (
        "/threads/thread_x/messages",
        {"role": "user", "content": "c" * 256_001},
        "content",
        "string_above_max_length",
    ),
    ("/threads/thread_x/messages", {"content": "c"}, "role", "missing_required_parameter"),
    ("/threads/thread_x", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", None),
    ("/threads/thread_x/messages/msg_x", {"metadata": "x"}, "metadata", None),
    ("/threads/thread_x/runs/run_x", {"metadata": {"k": "v" * 513}}, "metadata", None),
    (
        "/threads/thread_x/runs/run_x/submit_tool_outputs",
        {
            "tool_outputs": [
                {"tool_call_id": "a", "output": "ok"},
                {"tool_call_id": "b", "output": "é" * 262_145},
            ]
        },
        "tool_outputs[1].output",
        "string_above_max_length",
    ),
    (
        "/threads/thread_x/runs/run_x/submit_tool_outputs",
        {"stream": True},
        "tool_outputs",
        "missing_required_parameter",
    ),
]


@pytest.fixture(scope="module", params=["assistants", "engine"])
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(request.param, EmulatorConfig(), tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize(("path", "body", "param", "code"), VIOLATIONS, ids=[v[2] for v in VIOLATIONS])
def test_a_violation_is_a_400_naming_openais_path(
    base: str, path: str, body: dict[str, Any], param: str, code: str | None
) -> None:
    response = httpx.post(base + path, json=body, headers=AUTH, timeout=20)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert f"'{param}'" in error["message"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "²", "1e2", "", "007x"])
def test_list_limits_are_1_to_100(base: str, limit: str) -> None:
    response = httpx.get(f"{base}/assistants", params={"limit": limit}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "limit"


def test_values_at_the_limits_pass_and_objects_are_made(base: str) -> None:
    body = {
        "model": "gpt-4o",
        "name": "n" * 256,
        "description": "d" * 512,
        "instructions": "i" * 256_000,
        "tools": [FN] * 128,
        "metadata": {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)},
        "temperature": 2,
        "top_p": 0,
    }
    response = httpx.post(f"{base}/assistants", json=body, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    assistant = response.json()
    assert (assistant["name"], len(assistant["tools"]), assistant["metadata"]) == (
        body["name"],
        128,
        body["metadata"],
    )
    thread = httpx.post(f"{base}/threads", json={"messages": [USER] * 32}, headers=AUTH, timeout=30)
    assert thread.status_code == 200, thread.text
    text = "c" * 256_000
    message = httpx.post(
        f"{base}/threads/{thread.json()['id']}/messages",
        json={"role": "user", "content": text},
        headers=AUTH,
        timeout=30,
    )
    assert message.status_code == 200, message.text
    assert message.json()["content"][0]["text"]["value"] == text


AT_LIMITS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (
        RunIn,
        {"assistant_id": "a", "tools": [FN] * 20, "max_prompt_tokens": 256, "max_completion_tokens": 256},
    ),
    (RunIn, {"assistant_id": "a", "temperature": 0, "top_p": 1, "additional_messages": [USER] * 32}),
    (RunIn, {"assistant_id": "a", "truncation_strategy": {"type": "last_messages", "last_messages": 1}}),
    (RunIn, {"assistant_id": "a", "truncation_strategy": {"type": "auto", "last_messages": None}}),
    (RunIn, {"assistant_id": "a", "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    (RunIn, {"assistant_id": "a", "tool_choice": {"type": "file_search"}, "reasoning_effort": "xhigh"}),
    (RunIn, {"assistant_id": "a", "tool_choice": "required", "response_format": "auto"}),
    (RunIn, {"assistant_id": "a", "response_format": {"type": "json_object"}, "parallel_tool_calls": False}),
    (
        AssistantIn,
        {
            "model": "m",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "out-1", "schema": {"type": "object"}, "strict": True},
            },
        },
    ),
    (
        AssistantIn,
        {
            "model": "m",
            "tools": [
                {"type": "code_interpreter"},
                {"type": "retrieval"},
                {
                    "type": "file_search",
                    "file_search": {"max_num_results": 50, "ranking_options": {"score_threshold": 1}},
                },
            ],
        },
    ),
    (
        AssistantIn,
        {
            "model": "m",
            "tool_resources": {
                "code_interpreter": {"file_ids": ["f"] * 20},
                "file_search": {"vector_store_ids": ["vs_1"]},
            },
        },
    ),
    (AssistantPatch, {"name": "n" * 256, "temperature": 2, "reasoning_effort": "low"}),
    (
        MessageIn,
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "t" * 256_000},
                {"type": "image_file", "image_file": {"file_id": "file_1", "detail": "low"}},
            ],
        },
    ),
    (
        MessageIn,
        {
            "role": "user",
            "content": "c",
            "attachments": [
                {"file_id": "f", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]}
            ],
        },
    ),
    (
        ThreadIn,
        {"messages": [USER] * 32, "tool_resources": {"file_search": {"vector_stores": [{"file_ids": []}]}}},
    ),
    (ThreadAndRunIn, {"assistant_id": "a", "thread": {"messages": [USER] * 32}, "tools": [FN] * 20}),
    (SubmitToolOutputsIn, {"tool_outputs": [{"tool_call_id": "c", "output": "é" * 262_144}]}),
]


@pytest.mark.parametrize(("model", "body"), AT_LIMITS)
def test_values_at_the_limits_pass_with_the_json_kept(model: type[BaseModel], body: dict[str, Any]) -> None:
    parsed = model.model_validate(body)
    for key in ("tools", "tool_choice", "response_format", "truncation_strategy", "tool_resources"):
        if key in body and key in type(parsed).model_fields:
            assert getattr(parsed, key) == body[key], key  # the plain JSON the backends read


def test_patch_fields_the_backends_do_not_apply_are_checked_but_not_dumped() -> None:
    patch = AssistantPatch.model_validate({"name": "n", "temperature": 1})
    assert patch.model_dump(exclude_unset=True) == {"name": "n"}
    with pytest.raises(ValidationError):
        AssistantPatch.model_validate({"top_p": 2})


@pytest.mark.parametrize(
    ("loc", "doc", "missing", "path"),
    [
        (
            ("tools", 3, "FunctionTool", "function", "name"),
            {"tools": [{}, {}, {}, {"function": {"name": 1}}]},
            False,
            "tools[3].function.name",
        ),
        (
            ("content", "Parts", 0, "TextPart", "text"),
            {"content": [{"type": "text"}]},
            True,
            "content[0].text",
        ),
        (("metadata", "k"), {"metadata": {"k": 1}}, False, "metadata.k"),
        (("thread", "messages"), {"thread": {"messages": []}}, False, "thread.messages"),
        (("tool_outputs",), {}, True, "tool_outputs"),
        (("tools", 9), {"tools": []}, False, "tools"),
    ],
)
def test_error_locations_render_as_openai_paths(
    loc: tuple[int | str, ...], doc: Any, missing: bool, path: str
) -> None:
    assert field_path(loc, doc, missing=missing) == path
