"""Smoke run of a started gateway image (engine backend, built-in emulator upstream), over real HTTP.

    python -m tests.deploy.smoke http URL [ALIVE_COMMAND...]
        /healthz, /readyz, /metrics; an assistant; one streamed run that must arrive unbuffered as
        text/event-stream and end with `event: done` / `data: [DONE]`; then the run and its reply read
        back from the engine's database. ALIVE_COMMAND (`podman inspect -f {{.State.Running}} NAME`) must
        print `true` while the server starts, so a crashed container fails at once.
    python -m tests.deploy.smoke logs FILE
        the container's stderr: JSON log lines (LOG_FORMAT=json), no traceback.
    python -m tests.deploy.smoke sandbox URL TOKEN_FILE [ALIVE_COMMAND...]
        the code sandbox server (`python -m gateway.sandbox.server`): /healthz; 401 without the token;
        a cell with numpy, pandas and matplotlib whose chart comes back as a PNG; a file put in, read
        by the code, and its output read back; no network from inside; the session listed, then closed.

Standard library only.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

HEADERS = {"Authorization": "Bearer smoke-test", "Content-Type": "application/json"}
MODEL = "MiniMax-M2.7"
# The gateway is on loopback: never through an http_proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SmokeError(Exception):
    pass


def call(base: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=HEADERS)
    try:
        with OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def ok_json(base: str, path: str, body: Any = None) -> Any:
    status, raw = call(base, path, body)
    if status != 200:
        raise SmokeError(f"{path}: HTTP {status}: {raw[:300]!r}")
    return json.loads(raw)


def wait_until_serving(base: str, seconds: float, alive: list[str] | None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if call(base, "/healthz", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        if alive:
            state = subprocess.run(alive, capture_output=True, text=True, check=False).stdout.strip()
            if state != "true":
                raise SmokeError(f"the server stopped before serving ({' '.join(alive)}: {state!r})")
        if time.monotonic() > deadline:
            raise SmokeError(f"{base}/healthz did not answer 200 within {seconds:g} s")
        time.sleep(0.2)


def stream_run(base: str, assistant: str) -> list[tuple[str, str]]:
    """POST /v1/threads/runs with stream: true; the (event, data) pairs, checked for SSE framing."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    body = {
        "assistant_id": assistant,
        "stream": True,
        "thread": {"messages": [{"role": "user", "content": "Hi"}]},
    }
    try:
        conn.request("POST", "/v1/threads/runs", body=json.dumps(body), headers=HEADERS)
        resp = conn.getresponse()
        if resp.status != 200:
            raise SmokeError(f"streamed run: HTTP {resp.status}: {resp.read()[:500]!r}")
        if not resp.getheader("content-type", "").startswith("text/event-stream"):
            raise SmokeError(f"streamed run: content-type {resp.getheader('content-type')!r}")
        if (resp.getheader("x-accel-buffering") or "").lower() != "no":
            raise SmokeError("streamed run: no `X-Accel-Buffering: no` (proxies would buffer it)")
        frames = resp.read().decode().split("\n\n")
    finally:
        conn.close()
    events = []
    for frame in filter(None, frames):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        events.append((fields.get("event", ""), fields.get("data", "")))
    if events[-1:] != [("done", "[DONE]")]:
        raise SmokeError(f"streamed run did not end with event: done / data: [DONE]: {events[-3:]}")
    return events


def http_checks(base: str, start_timeout: float = 60.0, alive: list[str] | None = None) -> None:
    wait_until_serving(base, start_timeout, alive)
    deadline = time.monotonic() + 15
    while (status := call(base, "/readyz")[0]) != 200:
        if time.monotonic() > deadline:
            raise SmokeError(f"/readyz stayed {status}: the engine's database does not answer?")
        time.sleep(0.5)
    status, raw = call(base, "/metrics")
    if status != 200 or b"# TYPE" not in raw:
        raise SmokeError(f"/metrics: HTTP {status}, not Prometheus text")
    print("smoke: /healthz, /readyz, /metrics: 200")
    assistant = ok_json(base, "/v1/assistants", {"model": MODEL})["id"]
    events = stream_run(base, assistant)
    names = [name for name, _ in events]
    if "thread.message.delta" not in names or "thread.run.completed" not in names:
        raise SmokeError(f"streamed run carried no text or did not complete: {names}")
    run = json.loads(dict(events)["thread.run.completed"])
    print(f"smoke: streamed run {run['id']}: {len(events)} events, ends with done / [DONE]")
    stored = ok_json(base, f"/v1/threads/{run['thread_id']}/runs/{run['id']}")
    messages = ok_json(base, f"/v1/threads/{run['thread_id']}/messages")["data"]
    replies = [m for m in messages if m["role"] == "assistant" and m["content"][0]["text"]["value"]]
    if stored["status"] != "completed" or not replies:
        raise SmokeError(f"the database holds run status {stored['status']!r} and {len(replies)} replies")
    print("smoke: the run (completed) and its reply read back from the database")


def sandbox_call(
    base: str, method: str, path: str, token: str | None, body: bytes | None = None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(base + path, data=body, headers=headers, method=method)
    try:
        with OPENER.open(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sandbox_checks(base: str, token: str, alive: list[str] | None = None) -> None:
    """What the gateway asks of a sandbox server, over real HTTP, as `remote.RemoteSessions` does."""
    wait_until_serving(base, 60, alive)
    session = "/v1/sessions/smoke"

    def cell(code: str) -> Any:
        status, raw = sandbox_call(
            base, "POST", session + "/cells", token, json.dumps({"code": code}).encode()
        )
        if status != 200:
            raise SmokeError(f"cell: HTTP {status}: {raw[:300]!r}")
        return json.loads(raw)

    status, _ = sandbox_call(base, "POST", session + "/cells", None, b'{"code": "1"}')
    if status != 401:
        raise SmokeError(f"a cell without the token: HTTP {status}, not 401")
    status, _ = sandbox_call(
        base, "PUT", session + "/files/sales.csv", token, b"month,units\n1,10\n2,14\n3,9\n"
    )
    if status != 204:
        raise SmokeError(f"PUT a file: HTTP {status}")
    chart = cell(
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('sales.csv')\n"
        "print(int(df['units'].sum()), float(np.mean(df['units'])))\n"
        "df.plot(x='month', y='units')\n"
        "df.to_csv('out.csv', index=False)"
    )
    if chart["stdout"] != "33 11.0\n" or chart["error"] or len(chart["images"]) != 1:
        raise SmokeError(f"numpy/pandas/matplotlib cell: {chart}")
    status, png = sandbox_call(base, "GET", f"{session}/files/{chart['images'][0]}?limit=10000000", token)
    if status != 200 or png[:8] != b"\x89PNG\r\n\x1a\n":
        raise SmokeError(f"the chart: HTTP {status}, {png[:16]!r}")
    status, out = sandbox_call(base, "GET", session + "/files/out.csv?limit=1000", token)
    if status != 200 or out != b"month,units\n1,10\n2,14\n3,9\n":
        raise SmokeError(f"the code's file: HTTP {status}, {out[:100]!r}")
    print(
        f"smoke: sandbox cell with numpy, pandas, matplotlib: {chart['stdout'].strip()}, a {len(png)} B PNG"
    )
    port = urlsplit(base).port
    net = cell(
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('no network:', type(exc).__name__)"
    )
    if not net["stdout"].startswith("no network:"):
        raise SmokeError(f"the code reached the server's own port: {net}")
    exists = json.loads(sandbox_call(base, "GET", session, token)[1])
    status, _ = sandbox_call(base, "DELETE", session, token)
    after = json.loads(sandbox_call(base, "GET", session, token)[1])
    if exists != {"exists": True} or status != 204 or after != {"exists": False}:
        raise SmokeError(f"session listed {exists}, closed with HTTP {status}, then {after}")
    print(f"smoke: sandbox: {net['stdout'].strip()}; 401 without the token; the session closed")


def check_logs(text: str) -> None:
    """LOG_FORMAT=json: the log lines are JSON objects; no traceback anywhere."""
    lines = [line for line in text.splitlines() if line.strip()]
    if "Traceback (most recent call last)" in text:
        raise SmokeError("a traceback in the logs:\n" + text[-3000:])
    objects = []
    for line in lines:
        try:
            objects.append(json.loads(line))
        except ValueError:
            continue
    if not objects or not all(isinstance(o, dict) for o in objects):
        raise SmokeError("no JSON log lines:\n" + text[-2000:])
    print(f"smoke: logs: {len(objects)} of {len(lines)} lines are JSON objects, no traceback")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["http"] and len(argv) >= 2:
            http_checks(argv[1].rstrip("/"), alive=argv[2:] or None)
        elif argv[:1] == ["sandbox"] and len(argv) >= 3:
            with open(argv[2]) as f:
                token = f.read().strip()
            sandbox_checks(argv[1].rstrip("/"), token, alive=argv[3:] or None)
        elif argv[:1] == ["logs"] and len(argv) == 2:
            with open(argv[1]) as f:
                check_logs(f.read())
        else:
            print(__doc__)
            return 2
    except (SmokeError, OSError, ValueError, LookupError) as exc:
        print(f"smoke: FAIL {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
