"""OpenAI request bodies the gateway accepts (validated once, at the edge, to OpenAI's limits).

Fields MiniMax cannot honour are still accepted with their OpenAI types (so existing code keeps
working) and are listed in README; unknown fields are ignored as OpenAI ignores them. A field whose
OpenAI shape is richer than what the backends read (tools, tool_choice, ...) is first checked against
that shape (`Shaped`), so an error names the exact path, then kept as the plain JSON the backends read.
Limits are OpenAI's (openai/openai-openapi `openapi.yaml`); the few the spec leaves open are marked.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, GetCoreSchemaHandler, Tag
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

TEXT_MAX = 256_000  # message text; the spec's v1 CreateMessageRequest `content` maxLength (v2 left it open)
MESSAGES_MAX = 32  # thread.messages / additional_messages per request: the service's limit, not in the spec
TOOL_OUTPUT_MAX_BYTES = 512 * 1024  # one tool output, UTF-8: the spec gives no bound
_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # FunctionObject.name, ResponseFormatJsonSchema.json_schema.name


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Shape(BaseModel):
    """An OpenAI sub-object, only checked: strict, so the JSON kept is exactly what passed."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Shaped:
    """`Annotated[T, Shaped(S)]`: validate against the OpenAI shape `S` first (nested errors keep their
    path), then build `T` from the same input."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def keep(value: Any, check: core_schema.ValidatorFunctionWrapHandler) -> Any:
            check(value)
            return value

        checked = core_schema.no_info_wrap_validator_function(keep, handler.generate_schema(self.shape))
        return core_schema.chain_schema([checked, handler(source)])


def _kind(tags: dict[str, str], default: str, *, string: str | None = None) -> Discriminator:
    """Pick a union member by the input's `type` (members are tagged in CamelCase, which the error
    path rendering drops; `string`: the member for a bare string); anything else is checked against
    `default`, which then names what is wrong."""

    def pick(value: Any) -> str:
        if string is not None and isinstance(value, str):
            return string
        kind = value.get("type") if isinstance(value, dict) else None
        return tags.get(kind, default) if isinstance(kind, str) else default

    return Discriminator(pick)


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


def _output_size(value: str) -> str:
    if len(value) > TOOL_OUTPUT_MAX_BYTES // 4 and len(value.encode()) > TOOL_OUTPUT_MAX_BYTES:
        message = "String should have at most {max_bytes} bytes (UTF-8)"
        raise PydanticCustomError("string_too_long", message, {"max_bytes": TOOL_OUTPUT_MAX_BYTES})
    return value


Metadata = Annotated[dict[str, str], AfterValidator(_metadata)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
Name = Annotated[str, Field(pattern=_NAME)]


# -- tools (AssistantToolsCode / FileSearch / Function, FunctionObject) -------------------------------
class _Function(_Shape):
    name: Name
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    strict: bool | None = None


class _FunctionTool(_Shape):
    type: Literal["function"]
    function: _Function


class _Ranking(_Shape):
    ranker: Literal["auto", "default_2024_08_21"] = "auto"
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)]


class _FileSearch(_Shape):
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: _Ranking | None = None


class _FileSearchTool(_Shape):
    type: Literal["file_search"]
    file_search: _FileSearch | None = None


class _OtherTool(_Shape):
    type: str  # code_interpreter, or MiniMax's own (retrieval, web_search): each backend judges the type


_Tool = Annotated[
    Annotated[_FunctionTool, Tag("FunctionTool")]
    | Annotated[_FileSearchTool, Tag("FileSearchTool")]
    | Annotated[_OtherTool, Tag("OtherTool")],
    _kind({"function": "FunctionTool", "file_search": "FileSearchTool"}, "OtherTool"),
]
AssistantTools = Annotated[list[dict[str, Any]], Shaped(Annotated[list[_Tool], Field(max_length=128)])]
RunTools = Annotated[list[dict[str, Any]], Shaped(Annotated[list[_Tool], Field(max_length=20)])]


class _CodeResources(_Shape):
    file_ids: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)


class _VectorStore(_Shape):
    file_ids: list[str] = Field(default_factory=list)
    chunking_strategy: dict[str, Any] | None = None
    metadata: Metadata | None = None


class _SearchResources(_Shape):
    vector_store_ids: Annotated[list[str], Field(max_length=1)] = Field(default_factory=list)
    vector_stores: Annotated[list[_VectorStore], Field(max_length=1)] = Field(default_factory=list)


class _ToolResources(_Shape):
    code_interpreter: _CodeResources | None = None
    file_search: _SearchResources | None = None


ToolResources = Annotated[dict[str, Any], Shaped(_ToolResources)]


# -- run options (AssistantsApiToolChoiceOption, AssistantsApiResponseFormatOption, TruncationObject)
class _NamedFunction(_Shape):
    name: str


class _FunctionChoice(_Shape):
    type: Literal["function"]
    function: _NamedFunction


class _ToolChoice(_Shape):
    type: Literal["function", "code_interpreter", "file_search"]


_Choice = Annotated[
    Annotated[Literal["none", "auto", "required"], Tag("Mode")]
    | Annotated[_FunctionChoice, Tag("FunctionChoice")]
    | Annotated[_ToolChoice, Tag("ToolChoice")],
    _kind({"function": "FunctionChoice"}, "ToolChoice", string="Mode"),
]


class _JsonSchema(_Shape):
    name: Name
    description: str = ""
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class _JsonSchemaFormat(_Shape):
    type: Literal["json_schema"]
    json_schema: _JsonSchema


class _Format(_Shape):
    type: Literal["text", "json_object", "json_schema"]


_ResponseFormat = Annotated[
    Annotated[Literal["auto"], Tag("Auto")]
    | Annotated[_JsonSchemaFormat, Tag("JsonSchemaFormat")]
    | Annotated[_Format, Tag("Format")],
    _kind({"json_schema": "JsonSchemaFormat"}, "Format", string="Auto"),
]


class _AutoTruncation(_Shape):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


class _LastMessages(_Shape):
    type: Literal["last_messages"]
    last_messages: Annotated[int, Field(ge=1)]


_Truncation = Annotated[
    Annotated[_LastMessages, Tag("LastMessages")] | Annotated[_AutoTruncation, Tag("Truncation")],
    _kind({"last_messages": "LastMessages"}, "Truncation"),
]
ToolChoice = Annotated[Any, Shaped(_Choice | None)]
ResponseFormat = Annotated[Any, Shaped(_ResponseFormat | None)]
Truncation = Annotated[dict[str, Any], Shaped(_Truncation)]
Effort = Annotated[str, Shaped(Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"])]
Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(ge=0.0, le=1.0)]
Tokens = Annotated[int, Field(ge=256)]
Instructions = Annotated[str, Field(max_length=256_000)]


# -- messages (CreateMessageRequest) --------------------------------------------------------------
class TextPart(_Body):
    type: Literal["text"]
    text: str


class ImagePart(_Body):
    type: Literal["image_file", "image_url"]
    image_file: dict[str, Any] | None = None
    image_url: dict[str, Any] | None = None


class _TextPart(_Shape):
    type: Literal["text"]
    text: Text


class _ImageFile(_Shape):
    file_id: str
    detail: Literal["auto", "low", "high"] = "auto"


class _ImageUrl(_Shape):
    url: str
    detail: Literal["auto", "low", "high"] = "auto"


class _ImageFilePart(_Shape):
    type: Literal["image_file"]
    image_file: _ImageFile


class _ImageUrlPart(_Shape):
    type: Literal["image_url"]
    image_url: _ImageUrl


class _PartType(_Shape):
    type: Literal["text", "image_file", "image_url"]  # reached only by a wrong or missing type


_Part = Annotated[
    Annotated[_TextPart, Tag("TextPart")]
    | Annotated[_ImageFilePart, Tag("ImageFilePart")]
    | Annotated[_ImageUrlPart, Tag("ImageUrlPart")]
    | Annotated[_PartType, Tag("PartType")],
    _kind({"text": "TextPart", "image_file": "ImageFilePart", "image_url": "ImageUrlPart"}, "PartType"),
]
_Content = Annotated[
    Annotated[Text, Tag("Text")] | Annotated[list[_Part], Field(min_length=1), Tag("Parts")],
    Discriminator(lambda v: "Parts" if isinstance(v, list) else "Text"),
]


class _AttachmentTool(_Shape):
    type: Literal["code_interpreter", "file_search"]


class _Attachment(_Shape):
    file_id: str
    tools: list[_AttachmentTool]


class MessageIn(_Body):
    role: Literal["user", "assistant"]
    content: Annotated[str | list[TextPart | ImagePart], Shaped(_Content)]
    attachments: Annotated[list[dict[str, Any]], Shaped(list[_Attachment])] | None = None
    metadata: Metadata | None = None


Messages = Annotated[list[MessageIn], Field(max_length=MESSAGES_MAX)]


# -- request bodies ---------------------------------------------------------------------------------
class AssistantIn(_Body):
    model: str
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Instructions | None = None
    tools: AssistantTools = Field(default_factory=list)
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat = None
    reasoning_effort: Effort | None = None


class AssistantPatch(_Body):
    """Fields the backends do not change yet are still held to OpenAI's limits (`exclude`: not applied)."""

    model: str | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Instructions | None = None
    tools: AssistantTools | None = None
    metadata: Metadata | None = None
    tool_resources: ToolResources | None = Field(None, exclude=True)
    temperature: Temperature | None = Field(None, exclude=True)
    top_p: TopP | None = Field(None, exclude=True)
    response_format: ResponseFormat = Field(None, exclude=True)
    reasoning_effort: Effort | None = Field(None, exclude=True)


class ThreadIn(_Body):
    messages: Messages = Field(default_factory=list)
    metadata: Metadata | None = None
    tool_resources: ToolResources | None = None


class RunIn(_Body):
    """`POST /threads/{id}/runs`; `thread` is only read by create-and-run."""

    assistant_id: str
    model: str | None = None
    instructions: Instructions | None = None
    additional_instructions: Instructions | None = None
    additional_messages: Messages | None = None
    tools: RunTools | None = None
    metadata: Metadata | None = None
    stream: bool | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_prompt_tokens: Tokens | None = None
    max_completion_tokens: Tokens | None = None
    truncation_strategy: Truncation | None = None
    tool_choice: ToolChoice = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat = None
    reasoning_effort: Effort | None = None


class ThreadAndRunIn(RunIn):
    thread: ThreadIn | None = None
    tool_resources: ToolResources | None = None


class ToolOutput(_Body):
    tool_call_id: str
    output: Annotated[str, AfterValidator(_output_size)] = ""


class SubmitToolOutputsIn(_Body):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class MetadataIn(_Body):
    """`POST /threads/{id}`, `/runs/{id}`, `/messages/{id}`: the only field MiniMax can change."""

    metadata: Metadata | None = None
