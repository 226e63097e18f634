"""Smoke test of a running gateway (the image under podman, or the installed package on the host).

    python deploy/checks/smoke.py http URL [ALIVE_COMMAND...]
        /healthz, /readyz, /metrics, then one streamed run (POST /v1/threads/runs, stream: true)
        that must be served unbuffered as text/event-stream and end with `event: done` / `data: [DONE]`.
        ALIVE_COMMAND (e.g. `podman inspect -f {{.State.Running}} NAME`) must print `true` while the
        server starts; anything else fails at once instead of after the start timeout.
    python deploy/checks/smoke.py host ENV_FILE -- COMMAND...
        start COMMAND (e.g. `minimax-gateway --emulator --host 127.0.0.1 --port N`) with ENV_FILE's
        settings, run the HTTP checks, send SIGTERM, and require exit code 0 within the grace period.

Standard library only: it runs under whatever python3 the CI machine has.
"""

# ruff: noqa: T201  (a CLI: it prints its findings)
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

AUTH = {"Authorization": "Bearer smoke-test", "Content-Type": "application/json"}
# The gateway is on loopback: never route these requests through an http_proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SmokeError(Exception):
    pass


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until_serving(base: str, seconds: float, alive: list[str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if get(base + "/healthz", timeout=1)[0] == 200:
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


def http_checks(base: str, start_timeout: float = 60.0, alive: list[str] | None = None) -> None:
    wait_until_serving(base, start_timeout, alive)
    print(f"smoke: GET /healthz 200 ({base})")
    deadline = time.monotonic() + 15
    while (status := get(base + "/readyz")[0]) != 200:
        if time.monotonic() > deadline:
            raise SmokeError(f"/readyz stayed {status} (upstream check against the emulator failed?)")
        time.sleep(0.5)
    print("smoke: GET /readyz 200")
    status, body = get(base + "/metrics")
    if status != 200 or b"# TYPE" not in body:
        raise SmokeError(f"/metrics: {status}, not Prometheus text")
    print(f"smoke: GET /metrics 200 ({len(body)} bytes of Prometheus text)")

    req = urllib.request.Request(
        base + "/v1/assistants", data=json.dumps({"model": "abab6.5s-chat"}).encode(), headers=AUTH
    )
    with OPENER.open(req, timeout=10) as resp:
        assistant = json.load(resp)["id"]
    print(f"smoke: POST /v1/assistants -> {assistant}")

    run = {
        "assistant_id": assistant,
        "stream": True,
        "thread": {"messages": [{"role": "user", "content": "Hi"}]},
    }
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("POST", "/v1/threads/runs", body=json.dumps(run), headers=AUTH)
        resp = conn.getresponse()
        if resp.status != 200:
            raise SmokeError(f"streamed run: HTTP {resp.status}: {resp.read()[:500]!r}")
        ctype = resp.getheader("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raise SmokeError(f"streamed run: content-type {ctype!r}")
        if (resp.getheader("x-accel-buffering") or "").lower() != "no":
            raise SmokeError("streamed run: no `X-Accel-Buffering: no` header (proxies would buffer SSE)")
        lines = resp.read().decode().splitlines()
    finally:
        conn.close()
    events = [line.split(":", 1)[1].strip() for line in lines if line.startswith("event:")]
    data = [line for line in lines if line.startswith("data:")]
    if events[-1:] != ["done"] or data[-1:] != ["data: [DONE]"]:
        raise SmokeError(f"streamed run did not end with event: done / data: [DONE]; tail: {lines[-6:]}")
    if "thread.message.delta" not in events:
        raise SmokeError(f"streamed run carried no text deltas: {events}")
    print(f"smoke: POST /v1/threads/runs stream: {len(events)} events, ends with done / [DONE]")


def host_run(env_file: Path, command: list[str], url: str, grace: float) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from envfile import read_env_file

    settings, errors = read_env_file(env_file)
    if errors:
        raise SmokeError("; ".join(errors))
    env = {k: v for k, v in os.environ.items() if k.lower() not in _setting_names()}
    env.update(settings)
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        http_checks(url)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        _, stderr = proc.communicate(timeout=grace)
        print(f"smoke: SIGTERM -> exit {proc.returncode} after {time.monotonic() - t0:.1f} s")
        if proc.returncode != 0:
            raise SmokeError(f"exit code {proc.returncode} after SIGTERM; stderr tail:\n{stderr[-2000:]}")
        check_logs(stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _setting_names() -> set[str]:
    from gateway.settings import Settings

    return set(Settings.model_fields)


def check_logs(text: str) -> None:
    """LOG_FORMAT=json: the request log lines on stderr are JSON objects; no traceback anywhere."""
    lines = [line for line in text.splitlines() if line.strip()]
    as_json = []
    for line in lines:
        try:
            as_json.append(json.loads(line))
        except ValueError:
            continue
    if "Traceback (most recent call last)" in text:
        raise SmokeError("a traceback in the logs:\n" + text[-3000:])
    if not as_json or not all(isinstance(d, dict) for d in as_json):
        raise SmokeError("no JSON log lines on stderr:\n" + text[-2000:])
    print(f"smoke: logs: {len(as_json)} of {len(lines)} stderr lines are JSON objects, no traceback")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["http"] and len(argv) >= 2:
            http_checks(argv[1].rstrip("/"), alive=argv[2:] or None)
        elif argv[:1] == ["logs"] and len(argv) == 2:
            check_logs(Path(argv[1]).read_text())
        elif argv[:1] == ["host"] and "--" in argv:
            sep = argv.index("--")
            env_file, command = Path(argv[1]), argv[sep + 1 :]
            port = command[command.index("--port") + 1]
            host_run(env_file, command, f"http://127.0.0.1:{port}", grace=float(argv[2]) if sep > 2 else 60)
        else:
            print(__doc__)
            return 2
    except (SmokeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
        print(f"smoke: FAIL {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
