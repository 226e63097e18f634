"""OpenAI request bodies of the Files and Vector Stores APIs, validated at the edge to OpenAI's limits.

Attribute values and search filters have shapes pydantic would coerce (a bool is an int to it), so they
are kept as plain JSON here and checked by `engine.retrieval.filters`, which names the exact path.
Chunking strategies are checked for shape here and for OpenAI's bounds by the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas.openai import Metadata

FILE_IDS_MAX = 500  # vector_stores.create file_ids (the spec's maxItems)
BATCH_FILES_MAX = 2000  # file_batches.create: "The maximum batch size is 2000 files"


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class AutoChunking(_Shape):
    type: Literal["auto"]


class StaticBounds(_Shape):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class StaticChunking(_Shape):
    type: Literal["static"]
    static: StaticBounds


ChunkingIn = Annotated[AutoChunking | StaticChunking, Field(discriminator="type")]


class StoreExpiry(_Shape):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class VectorStoreIn(_Body):
    name: str | None = Field(None, max_length=256)
    description: str | None = Field(None, max_length=512)
    file_ids: list[str] = Field(default_factory=list, max_length=FILE_IDS_MAX)
    chunking_strategy: ChunkingIn | None = None
    expires_after: StoreExpiry | None = None
    metadata: Metadata | None = None


class VectorStorePatch(_Body):
    name: str | None = Field(None, max_length=256)
    expires_after: StoreExpiry | None = None
    metadata: Metadata | None = None


class StoreFileIn(_Body):
    file_id: str = Field(max_length=64)
    attributes: dict[str, Any] | None = None
    chunking_strategy: ChunkingIn | None = None


class BatchFile(_Body):
    file_id: str = Field(max_length=64)
    attributes: dict[str, Any] | None = None
    chunking_strategy: ChunkingIn | None = None


class FileBatchIn(_Body):
    file_ids: list[str] | None = Field(None, max_length=BATCH_FILES_MAX)
    files: list[BatchFile] | None = Field(None, max_length=BATCH_FILES_MAX)
    attributes: dict[str, Any] | None = None
    chunking_strategy: ChunkingIn | None = None


class AttributesIn(_Body):
    attributes: dict[str, Any] | None


class RankingIn(_Shape):
    ranker: Literal["none", "auto", "default-2024-11-15", "default_2024_08_21"] = "auto"
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)


class SearchIn(_Body):
    query: str | list[str]
    filters: dict[str, Any] | None = None
    max_num_results: int = Field(10, ge=1, le=50)
    ranking_options: RankingIn | None = None
    rewrite_query: bool = False
