"""OpenAI request bodies the gateway accepts (validated once, at the edge).

Fields MiniMax cannot honour are still accepted with their OpenAI types (so existing code keeps
working) and are listed in README; unknown fields are ignored as OpenAI ignores them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _metadata(value: dict[str, str]) -> dict[str, str]:
    """OpenAI's limits: at most 16 pairs, keys up to 64 characters, values up to 512."""
    if len(value) > 16:
        raise ValueError(f"metadata takes at most 16 key-value pairs; got {len(value)}")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"metadata keys are at most 64 characters; {key[:70]!r} is longer")
        if len(item) > 512:
            raise ValueError(f"metadata values are at most 512 characters; the value of {key!r} is longer")
    return value


Metadata = Annotated[dict[str, str], AfterValidator(_metadata)]


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ImagePart(_Body):
    type: Literal["image_file", "image_url"]
    image_file: dict[str, Any] | None = None
    image_url: dict[str, Any] | None = None


class MessageIn(_Body):
    role: Literal["user", "assistant"]
    content: str | list[TextPart | ImagePart]
    attachments: list[dict[str, Any]] | None = None
    metadata: Metadata | None = None


class AssistantIn(_Body):
    model: str
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_resources: dict[str, Any] | None = None
    metadata: Metadata | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: Any = None
    reasoning_effort: str | None = None


class AssistantPatch(_Body):
    model: str | None = None
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: Metadata | None = None


class ThreadIn(_Body):
    messages: list[MessageIn] = Field(default_factory=list)
    metadata: Metadata | None = None
    tool_resources: dict[str, Any] | None = None


class RunIn(_Body):
    """`POST /threads/{id}/runs`; `thread` is only read by create-and-run."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[MessageIn] | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: Metadata | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None
    reasoning_effort: str | None = None


class ThreadAndRunIn(RunIn):
    thread: ThreadIn | None = None
    tool_resources: dict[str, Any] | None = None


class ToolOutput(_Body):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputsIn(_Body):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class MetadataIn(_Body):
    """`POST /threads/{id}`, `/runs/{id}`, `/messages/{id}`: the only field MiniMax can change."""

    metadata: Metadata | None = None
