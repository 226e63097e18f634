"""Reliability under load: a soak of N streams for T seconds, and SIGTERM under open streams.

    python -m tests.soak --backend engine --streams 500 --seconds 600       # the soak
    python -m tests.soak --backend assistants --drain --streams 300          # SIGTERM under load
    python -m tests.soak --postgres --replicas 2 --streams 500 --seconds 120 # two engines, one PostgreSQL

Not part of the test suite (it runs for minutes). It starts the MiniMax emulator and the gateway
(`python -m gateway`, a real process) on loopback, then keeps `--streams` streamed runs going
(each a fresh thread, create-and-run), rebuilding every reply from its `thread.message.delta` events
and comparing it character for character with what the emulator's model says: nothing lost,
nothing doubled, every stream ending with a terminal run event and `done`. It prints streams,
characters checked, characters lost, streams cut, errors and the gateway's memory at start and end.
`--drain` instead opens the streams (paced, so they are still running), sends SIGTERM, and checks
that no stream is cut (each ends with a terminal event and `done`), that new requests get 503 and
that the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from gateway.emulator.replies import text_reply


@dataclass
class Tally:
    streams: int = 0
    checked: int = 0  # characters compared with the model's reply
    lost: int = 0  # characters missing, doubled or different
    cut: int = 0  # streams without a terminal event and `done`
    errors: int = 0  # HTTP errors and exceptions
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(cmd: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[2]} exited at start; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", int(ready.rsplit(":", 1)[1])), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{cmd[2]} did not listen; see {log}")


def parse(raw: bytes) -> tuple[str, str | None, bool]:
    """(text rebuilt from deltas, the terminal run status, whether `done` came)."""
    text: list[str] = []
    status = None
    done = False
    for block in raw.split(b"\n\n"):
        if not block or block.startswith(b":"):
            continue
        lines = dict(line.split(b": ", 1) for line in block.split(b"\n") if b": " in line)
        name = lines.get(b"event", b"").decode()
        if name == "done":
            done = True
        elif name == "thread.message.delta":
            for part in orjson.loads(lines[b"data"])["delta"]["content"]:
                text.append(part.get("text", {}).get("value", ""))
        elif name.startswith("thread.run.") and name.rsplit(".", 1)[1] in (
            "completed",
            "failed",
            "cancelled",
            "expired",
            "incomplete",
            "requires_action",
        ):
            status = name.rsplit(".", 1)[1]
    return "".join(text), status, done


async def one_stream(
    http: aiohttp.ClientSession, base: str, backend: str, n: int, pace_ms: int, tally: Tally, key: str
) -> None:
    words = f"Stream {n} says hello"
    text = f"{words} [[fault:pace:{pace_ms}]]" if backend == "engine" and pace_ms else words
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with http.post(f"{base}/assistants", json={"model": "abab6.5s-chat"}, headers=headers) as r:
            assistant = await r.json()
        body = {
            "assistant_id": assistant["id"],
            "stream": True,
            "metadata": {"emulator_pace_ms": str(pace_ms)},
            "thread": {"messages": [{"role": "user", "content": text}]},
        }
        async with http.post(f"{base}/threads/runs", json=body, headers=headers) as r:
            if r.status != 200:
                tally.errors += 1
                tally.notes.append(f"HTTP {r.status}: {(await r.text())[:120]}")
                return
            raw = await r.read()
    except (aiohttp.ClientError, KeyError, TimeoutError) as exc:
        tally.errors += 1
        tally.cut += 1
        tally.notes.append(f"{type(exc).__name__}: {exc}"[:160])
        return
    got, status, done = parse(raw)
    expected = text_reply(words)
    tally.streams += 1
    tally.checked += len(expected)
    if got != expected:
        same = next(
            (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
            min(len(got), len(expected)),
        )
        tally.lost += max(len(expected), len(got)) - same
        tally.notes.append(f"stream {n}: text differs at character {same} (status {status})")
    if status is None or not done:
        tally.cut += 1


async def soak(
    bases: list[str], backend: str, streams: int, seconds: float, pace_ms: int, tally: Tally
) -> None:
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def worker(w: int) -> None:
            base = bases[w % len(bases)]  # each worker on one replica; its objects on that one's peers too
            while time.monotonic() < deadline:
                await one_stream(http, base, backend, next(counter), pace_ms, tally, f"soak-{w}")

        await asyncio.gather(*(worker(w) for w in range(streams)))


async def drain(
    base: str, backend: str, streams: int, pace_ms: int, gateway: subprocess.Popen[bytes], tally: Tally
) -> int:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        running = [
            asyncio.create_task(one_stream(http, base, backend, n, pace_ms, tally, f"drain-{n}"))
            for n in range(streams)
        ]
        await asyncio.sleep(3)  # every stream is open and mid-reply
        gateway.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        try:
            async with http.post(
                f"{base}/assistants",
                json={"model": "abab6.5s-chat"},
                headers={"Authorization": "Bearer late"},
            ) as r:
                refused = r.status
        except aiohttp.ClientError:
            refused = 0  # the listener may already be closed: also a refusal
        await asyncio.gather(*running)
    tally.notes.append(f"a new request during the drain: HTTP {refused or 'refused'}")
    return await asyncio.get_running_loop().run_in_executor(None, gateway.wait, 120)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["engine", "assistants"], default="engine")
    p.add_argument("--streams", type=int, default=500, help="concurrent streams (default 500)")
    p.add_argument("--seconds", type=float, default=600, help="how long the soak runs (default 600)")
    p.add_argument(
        "--pace-ms", type=int, default=20, help="emulator delay between chunks (default 20; --drain: >= 250)"
    )
    p.add_argument("--drain", action="store_true", help="SIGTERM under --streams open streams instead")
    p.add_argument("--replicas", type=int, default=1, help="gateway processes sharing the database")
    p.add_argument("--postgres", action="store_true", help="the engine on a throwaway PostgreSQL server")
    args = p.parse_args()
    with ExitStack() as stack:
        database = "sqlite"
        if args.postgres:
            from tests.postgres import fresh_pg_db, in_thread, pg_server

            server = stack.enter_context(contextmanager(pg_server)())
            urls: list[str] = []

            async def fresh() -> None:
                urls.append(await fresh_pg_db(server, migrated=True))

            in_thread(fresh())
            database = urls[0]
        run(args, database)


def run(args: argparse.Namespace, database: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    emu_port = free_port()
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "warning",
        "MAX_STREAMS": str(args.streams + 100),
        "BACKEND": args.backend,
        "DATABASE_URL": f"sqlite:///{work / 'soak.db'}" if database == "sqlite" else database,
        "DRAIN_SECONDS": "30",
    }
    emulator = start(
        [sys.executable, "-m", "gateway.emulator", "--port", str(emu_port), "--log-level", "warning"],
        env,
        work / "emulator.log",
        f"127.0.0.1:{emu_port}",
    )
    gateways: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    for r in range(args.replicas):
        port = free_port()
        upstream = f"http://127.0.0.1:{emu_port}"
        cmd = [sys.executable, "-m", "gateway", "--port", str(port), "--upstream", upstream]
        gateways.append(start(cmd, env, work / f"gateway-{r}.log", f"127.0.0.1:{port}"))
        bases.append(f"http://127.0.0.1:{port}/v1")
    tally = Tally()
    try:
        time.sleep(1.0)
        rss_start = [rss_kb(g.pid) for g in gateways]
        cpu_start = [cpu_seconds(g.pid) for g in gateways]
        started = time.monotonic()
        if args.drain:
            code = asyncio.run(
                drain(bases[0], args.backend, args.streams, max(args.pace_ms, 250), gateways[0], tally)
            )
            rss_end, cpu_end = rss_start, cpu_start
        else:
            asyncio.run(soak(bases, args.backend, args.streams, args.seconds, args.pace_ms, tally))
            rss_end = [rss_kb(g.pid) for g in gateways]
            cpu_end = [cpu_seconds(g.pid) for g in gateways]
            code = None
        took = time.monotonic() - started
    finally:
        for proc in (*gateways, emulator):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    mode = "drain (SIGTERM under load)" if args.drain else f"soak {args.seconds:g} s"
    pace = max(args.pace_ms, 250) if args.drain else args.pace_ms
    where = "SQLite" if database == "sqlite" else "PostgreSQL"
    print(
        f"{mode}, backend {args.backend} ({where}, {args.replicas} process(es)), {args.streams} concurrent"
        f" streams, pace {pace} ms, {took:.0f} s"
    )
    print(
        f"  streams {tally.streams}, characters checked {tally.checked:,}, characters lost {tally.lost},"
        f" streams cut {tally.cut}, errors {tally.errors}"
    )
    if args.drain:
        print(f"  gateway exit code {code}")
    else:
        for r in range(len(gateways)):
            cpu = cpu_end[r] - cpu_start[r]
            print(
                f"  gateway {r}: RSS start {rss_start[r] / 1024:.1f} MB, end {rss_end[r] / 1024:.1f} MB;"
                f" CPU {cpu:.1f} s ({cpu / max(took, 1e-9) * 100:.0f}% of a core)"
            )
    for note in tally.notes[:10]:
        print(f"  note: {note}")
    print(f"  logs in {work}")
    failed = tally.lost or tally.cut or tally.errors or (args.drain and code != 0)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
