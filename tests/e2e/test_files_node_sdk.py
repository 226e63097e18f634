"""Files and vector stores through the official openai npm package (`node/files.mjs`), on the engine over
SQLite: upload with `toFile`, a vector store polled to completion, search in three languages, the
upload-and-poll helpers, chunks, downloads and the SDK's error classes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.files_helpers import DOCUMENTS, QUERIES, Gateway, engine_gateway, terms_of


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with engine_gateway(tmp_path_factory.mktemp("files-node")) as gateway:
        yield gateway


def run_node(script: Path, base_url: str, corpus: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(script), base_url, str(corpus)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_node_sdk_uploads_builds_a_store_and_searches(
    engine: Gateway, node_sdk: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.json"
    queries = {language: query for language, (query, _) in QUERIES.items()}
    corpus.write_text(json.dumps({"documents": DOCUMENTS, "queries": queries}, ensure_ascii=False))
    seen = run_node(node_sdk.parent / "files.mjs", engine.url, corpus)

    assert seen["uploaded"] == [
        {"name": name, "bytes": len(text.encode()), "purpose": "assistants"}
        for name, text in DOCUMENTS.items()
    ]
    assert seen["createdStatus"] == "in_progress"
    store = seen["store"]
    assert store["status"] == "completed" and store["usageBytes"] > 0
    assert store["fileCounts"] == {
        "in_progress": 0,
        "completed": len(DOCUMENTS),
        "failed": 0,
        "cancelled": 0,
        "total": len(DOCUMENTS),
    }
    for language, (query, home) in QUERIES.items():
        results = seen["search"][language]
        assert results and {r["name"] for r in results} == {home}, (language, results)
        assert terms_of(query) & terms_of(results[0]["text"])
        assert all(0 < r["score"] <= 1 for r in results)
    assert seen["limited"] == 2
    assert seen["single"]["status"] == "completed" and seen["single"]["usageBytes"] > 0
    assert seen["singleContent"] == ["Node single upload about lanterns."]
    assert seen["batch"]["status"] == "completed"
    counts = seen["batch"]["fileCounts"]
    assert (counts["completed"], counts["failed"], counts["total"]) == (2, 1, 3)
    assert seen["failedCodes"] == ["unsupported_file"]
    assert seen["listedCount"] == len(DOCUMENTS) + 4  # every page walked
    assert seen["zeppelins"] == 1
    assert seen["download"] == [0, 1, 2, 250, 255]
    assert seen["assistantsDownload"] == {
        "name": "BadRequestError",
        "status": 400,
        "code": None,
        "param": None,
    }
    assert seen["badFilter"]["name"] == "BadRequestError" and seen["badFilter"]["param"] == "filters.value"
    assert seen["deletedRetrieve"]["name"] == "NotFoundError" and seen["deletedRetrieve"]["status"] == 404
