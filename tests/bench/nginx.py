"""The `nginx` target: Debian's nginx as a reverse proxy of the upstream's chat stream, started with its
own config in a tmp dir (`proxy_buffering off`).

One process (`master_process off`, `daemon off`): the process that `taskset` starts is the one that
serves, so its CPU clock and RSS are the proxy's, as for the Python servers (with a master, the work
would happen in a forked worker). HTTP/1.1 with keep-alive to the upstream (`keepalive 1024`), no
access log, timeouts long enough for the held streams. Missing nginx raises `NginxMissing`: the
target fails loudly instead of vanishing from the tables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.bench.procs import free_port

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{
    worker_connections 30000;
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream minimax {{
        server {upstream};
        keepalive 1024;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /v1/chat/completions {{
            proxy_pass http://minimax;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }}
    }}
}}
"""


class NginxMissing(RuntimeError):
    pass


def nginx_binary() -> str:
    """The nginx executable; raises NginxMissing with the fix."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise NginxMissing(
            "the nginx target needs nginx: `apt-get install -y nginx` (or leave it out with --target)"
        )
    return found


class Nginx:
    """nginx under `taskset -c CORE`, proxying `upstream` (a base URL), ready to take connections."""

    def __init__(self, core: int, upstream: str, log_dir: Path) -> None:
        binary = nginx_binary()
        self.kind = "nginx"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = log_dir / f"nginx-{self.port}"
        self.prefix.mkdir(parents=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONFIG.format(prefix=self.prefix, upstream=urlsplit(upstream).netloc, port=self.port))
        self.log_path = self.prefix / "error.log"
        cmd = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.log_path)]
        if core < (os.cpu_count() or 1):
            cmd = ["taskset", "-c", str(core), *cmd]
        self._out = open(self.prefix / "stdout.log", "wb")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.started = time.monotonic()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: open streams finish or time out
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def log_tail(self, lines: int = 5) -> str:
        text = ""
        for path in (self.prefix / "stdout.log", self.log_path):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])
