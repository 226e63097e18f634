"""`code_interpreter` inside a streamed run through the official openai npm package
(`node/code_interpreter.mjs`), on the engine over SQLite, with real sandboxes: the call's code streamed in
several `input` deltas that the SDK puts together into exactly the code run, its `logs` and `image`
outputs with their indexes, the image first in the answer's content, and a written file as a
`file_path` annotation whose File holds what the code wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.files_helpers import Gateway, engine_gateway

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as users of their own: root")
CSV = "x,y\n1,2\n2,4\n3,9\n"
CODE = (
    "import pandas as pd\n"
    "import matplotlib.pyplot as plt\n"
    "df = pd.read_csv('/mnt/data/data.csv')\n"
    "df.plot(x='x', y='y')\n"
    "df.to_csv('doubled.csv', index=False)\n"
    'print("sum", int(df["y"].sum()))'
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    sandbox = Path(tempfile.mkdtemp(prefix="code-node-", dir="/tmp"))
    sandbox.chmod(0o711)
    try:
        with engine_gateway(
            tmp_path_factory.mktemp("code-node"), code_sandbox_dir=sandbox, code_first_uid=240_300
        ) as gateway:
            yield gateway
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def test_node_sdk_streamed_run_with_code_interpreter(engine: Gateway, node_sdk: Path) -> None:
    script = node_sdk.parent / "code_interpreter.mjs"
    done = subprocess.run(
        ["node", str(script), engine.url, CSV, CODE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["run"]["status"] == "completed"
    assert "thread.run.requires_action" not in seen["seen"]["events"]
    inputs = seen["seen"]["inputDeltas"]
    assert len(inputs) > 1 and "".join(inputs) == CODE + "\n"
    assert seen["seen"]["outputDeltas"] == [{"index": 0, "type": "logs"}, {"index": 1, "type": "image"}]
    (call,) = seen["seen"]["callsDone"]
    assert call["code_interpreter"]["input"] == CODE + "\n"
    logs, image = call["code_interpreter"]["outputs"]
    assert logs == {"index": 0, "type": "logs", "logs": "sum 15\n"}
    assert image["type"] == "image" and image["image"]["file_id"].startswith("file")

    content = seen["message"]
    assert content[0] == {
        "type": "image_file",
        "image_file": {"file_id": image["image"]["file_id"], "detail": "auto"},
    }
    assert seen["seen"]["imagesDone"] == [image["image"]["file_id"]]
    link = "sandbox:/mnt/data/doubled.csv"
    text = seen["text"]
    (path,) = [a for a in text["annotations"] if a["type"] == "file_path"]
    assert path["text"] == link and text["value"][path["start_index"] : path["end_index"]] == link
    assert seen["written"] == CSV  # to_csv wrote the same table back
    assert "".join(d["value"] for d in seen["seen"]["deltas"]) == text["value"]
