"""`file_search` inside a streamed run through the official openai npm package (`node/file_search.mjs`), on
the engine over SQLite and PostgreSQL: the search's tool call and step with its results, the answer's
marker annotated once as a `file_citation` of the right file (offsets into the message's text), the
text rebuilt from the deltas equal to the stored message, and include[] on the steps."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.engine.file_search import RANKER
from tests.e2e.files_helpers import DOCUMENTS, Gateway, engine_gateway, pg_database

QUESTION = "What is the rollback procedure after a canary release?"
MARKER = "【0:0†handbook.md】"
ANSWER = f"According to handbook.md: Platform Engineering Handbook {MARKER}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    database_url = (
        pg_database(request.getfixturevalue("pg_server")) if request.param == "postgresql" else None
    )
    directory = tmp_path_factory.mktemp(f"file-search-node-{request.param}")
    with engine_gateway(directory, database_url=database_url) as gateway:
        yield gateway


def run_node(script: Path, base_url: str, corpus: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(script), base_url, str(corpus)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_node_sdk_streamed_run_with_file_search(engine: Gateway, node_sdk: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps({"documents": DOCUMENTS, "question": QUESTION}, ensure_ascii=False))
    seen = run_node(node_sdk.parent / "file_search.mjs", engine.url, corpus)
    handbook = seen["ids"]["handbook.md"]
    by_id = {file_id: name for name, file_id in seen["ids"].items()}

    assert seen["storeStatus"] == "completed" and seen["assistantTools"] == ["file_search"]
    assert seen["run"]["status"] == "completed" and seen["run"]["requiredAction"] is None
    usage = seen["run"]["usage"]
    assert usage["total_tokens"] == sum(s["usage"]["total_tokens"] for s in seen["stepsPlain"]) > 0

    # The search: its tool call, and its step with results naming the right file.
    assert [c["type"] for c in seen["toolCallsCreated"]] == ["file_search"]
    assert [(s["type"], s["status"]) for s in seen["stepsDone"]] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    (call,) = seen["stepsDone"][0]["details"]["tool_calls"]
    assert call["type"] == "file_search" and call["id"] == seen["toolCallsCreated"][0]["id"]
    assert call["file_search"]["ranking_options"] == {"ranker": RANKER, "score_threshold": 0.0}
    results = call["file_search"]["results"]
    assert results and (results[0]["file_id"], results[0]["file_name"]) == (handbook, "handbook.md")
    assert all(0 < r["score"] <= 1 and by_id[r["file_id"]] == r["file_name"] for r in results)

    # The answer: rebuilt from the deltas, one annotation, in the delta carrying the whole marker.
    assert "".join(d["value"] for d in seen["deltas"]) == ANSWER
    annotated = [d for d in seen["deltas"] if d["annotations"]]
    assert [d["value"] for d in annotated] == [MARKER]
    (streamed,) = annotated[0]["annotations"]
    start = ANSWER.index(MARKER)
    assert streamed["type"] == "file_citation" and streamed["file_citation"]["file_id"] == handbook
    assert (streamed["start_index"], streamed["end_index"], streamed["text"]) == (start, len(ANSWER), MARKER)
    assert [a["text"] for a in seen["snapshotAnnotations"]] == [MARKER]
    assert len(seen["messagesDone"]) == 1 and seen["messagesDone"][0] == seen["stored"]
    (block,) = seen["stored"]
    assert block["type"] == "text" and block["text"]["value"] == ANSWER
    assert block["text"]["annotations"] == [
        {
            "type": "file_citation",
            "text": MARKER,
            "start_index": start,
            "end_index": start + len(MARKER),
            "file_citation": {"file_id": handbook},
        }
    ]

    # include[]: the results' content only when asked for.
    plain_results = seen["stepsPlain"][0]["details"]["tool_calls"][0]["file_search"]["results"]
    full_results = seen["stepsFull"][0]["details"]["tool_calls"][0]["file_search"]["results"]
    assert plain_results and all("content" not in r for r in plain_results)
    assert full_results[0]["content"] == [{"type": "text", "text": DOCUMENTS["handbook.md"].strip()}]
    assert seen["retrievedFull"] == seen["stepsFull"][0]["details"]
