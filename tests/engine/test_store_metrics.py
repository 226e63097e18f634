"""`/metrics` counts the store's transactions by kind, so an operator (and the benchmark) can see how many
a process makes: a streamed run adds writes, a read of its messages adds reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from gateway.emulator.config import EmulatorConfig
from tests.engine.helpers_e2e import assistant, post_events, stack, thread


def _counts(root: str) -> dict[str, float]:
    found = {}
    for line in httpx.get(f"{root}/metrics").text.splitlines():
        if line.startswith("gateway_store_transactions_total{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            found[kind] = float(line.rsplit(" ", 1)[1])
    return found


def test_store_transactions_are_counted_by_kind(tmp_path: Path) -> None:
    with stack(EmulatorConfig(), tmp_path) as s, s.http(s.key()) as client:
        root = s.url.removesuffix("/v1")
        asst = assistant(client)
        thread_id = thread(client, "hello")
        before = _counts(root)
        post_events(client, f"/threads/{thread_id}/runs", {"assistant_id": asst})
        after_run = _counts(root)
        assert after_run["write"] > before["write"]
        client.get(f"/threads/{thread_id}/messages").raise_for_status()
        assert _counts(root)["read"] > after_run["read"]


def test_create_thread_and_run_reads_nothing_apart_and_leaves_no_thread_for_a_missing_assistant(
    tmp_path: Path,
) -> None:
    with stack(EmulatorConfig(), tmp_path) as s, s.http(s.key()) as client:
        root = s.url.removesuffix("/v1")
        asst = assistant(client)
        before = _counts(root)
        body = {"assistant_id": asst, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
        post_events(client, "/threads/runs", body)
        # The assistant is checked inside the thread's own write: no read transaction of its own.
        assert _counts(root)["read"] == before["read"]
        missing = client.post("/threads/runs", json={**body, "assistant_id": "asst_missing", "stream": True})
        assert missing.status_code == 404 and missing.json()["error"]["param"] is None
    with sqlite3.connect(tmp_path / "engine.db") as db:
        assert db.execute("SELECT count(*) FROM threads").fetchone() == (1,)  # the run's; none for the 404
