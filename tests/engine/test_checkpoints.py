"""The checkpoint tick: many replies streaming at once are saved together, so the store's transactions
follow the ticks (checkpoints, sweeps), not the number of streams; each reply is still seen growing."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.emulator.config import EmulatorConfig
from tests.engine.helpers_e2e import Stack, assistant, stack
from tests.engine.helpers_lifecycle import StreamReader, paced

INTERVAL = 0.1
WINDOW = 1.0


def _writes(root: str) -> float:
    for line in httpx.get(f"{root}/metrics").text.splitlines():
        if line.startswith('gateway_store_transactions_total{kind="write"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no store transaction count in /metrics")


def _writes_while_streaming(s: Stack, http: httpx.Client, runs: int) -> float:
    """Write transactions per tick over a window in which `runs` replies all stream (none starts or
    ends), after checking each one's text is saved."""
    root = s.url.removesuffix("/v1")
    aid = assistant(http)
    readers = [
        StreamReader(
            s.url + "/threads/runs",
            "k-tick",
            {
                "assistant_id": aid,
                "stream": True,
                "thread": {"messages": [{"role": "user", "content": paced(f"story {n}", 40)}]},
            },
        ).start()
        for n in range(runs)
    ]
    created = [reader.first("thread.message.created") for reader in readers]
    before, started = _writes(root), time.monotonic()
    time.sleep(WINDOW)
    during, elapsed = _writes(root) - before, time.monotonic() - started
    assert all("thread.run.completed" not in reader.names() for reader in readers)
    for message in created:
        found = http.get(f"/threads/{message['thread_id']}/messages/{message['id']}").json()
        assert found["status"] == "in_progress" and found["content"], found
    for reader in readers:
        reader.join()
    return during / (elapsed / INTERVAL)


def test_store_transactions_follow_the_ticks_not_the_streams(tmp_path: Path) -> None:
    config = EmulatorConfig(chars_per_chunk=2)  # ~65 chunks a reply, one every 40 ms: ~2.6 s each
    with stack(config, tmp_path, checkpoint_interval=INTERVAL) as s, s.http("k-tick") as http:
        few = _writes_while_streaming(s, http, 3)
        many = _writes_while_streaming(s, http, 30)
    # A tick saves every streaming reply in one transaction, a sweep renews every lease in one: ten
    # times the streams, about the same transactions (a transaction per run per tick would be ~10x).
    print(f"write transactions per tick: {few:.1f} with 3 streams, {many:.1f} with 30")
    assert many <= few * 1.5 + 0.5, (few, many)
    assert few >= 1  # the ticks do write: the replies above were seen saved mid-stream
