"""Process orchestration: each server in its own process, pinned with `taskset -c`, with raised fd limits.

Layout (2 cores): the proxy under test (naive or gateway) alone on core 0; the upstream and the
load client (this process, pinned with `sched_setaffinity`, which is what taskset does) on core 1.
A server run from another checkout (`checkout=DIR`, the baseline) runs this checkout's serve.py as a
script with `python -P` (no script directory on sys.path), cwd=DIR and PYTHONPATH=DIR, so `gateway`
is imported from DIR and not from the venv's editable install of this checkout; `python=` runs it with
another interpreter (a venv of its own with the project's dependencies).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.serve import raise_nofile

PROXY_CORE = 0
LOAD_CORE = 1
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pin_self(core: int = LOAD_CORE) -> None:
    """Pin the load client (this process) like `taskset -c core`, and raise its fd limit."""
    if core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})
    raise_nofile()


class Server:
    """One `python -m tests.bench.serve KIND` process under `taskset -c CORE`, ready to take connections."""

    def __init__(
        self,
        kind: str,
        core: int,
        upstream: str = "",
        log_dir: Path | None = None,
        env: dict[str, str] | None = None,
        *,
        name: str = "",
        checkout: Path | None = None,
        python: Path | None = None,
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if checkout is None:
            cmd = [sys.executable, "-m", "tests.bench.serve", kind, "--port", str(self.port)]
        else:
            script = str(ROOT / "tests" / "bench" / "serve.py")
            cmd = [str(python or sys.executable), "-P", script, kind, "--port", str(self.port)]
            env = {**(env or {}), "PYTHONPATH": str(checkout)}
        if upstream:
            cmd += ["--upstream", upstream]
        if core < (os.cpu_count() or 1):
            cmd = ["taskset", "-c", str(core), *cmd]
        self.log_path = (log_dir or Path("/tmp")) / f"bench-{name or kind}-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  # closed in stop()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            cmd, cwd=checkout or ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=full_env
        )
        self.pid = self.proc.pid  # taskset execs the command: same pid
        self.started = time.monotonic()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited at start; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen within {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
