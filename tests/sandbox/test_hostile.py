"""The sandbox is a boundary: hostile code run through it reaches no network, no secret, no file of the
gateway's or of another session, and every limit ends it cleanly, with the gateway's process unharmed.
Real bubblewrap, real processes; nothing is mocked."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.sandbox.bwrap import SandboxMissing
from gateway.sandbox.run import Limits, Outcome, Sandbox
from tests.sandbox.conftest import Session

NewSession = Callable[..., Session]


def run(code: str, session: Session, **limits: float) -> Outcome:
    return asyncio.run(Sandbox(Limits(**limits)).run(code, session.dir, session.uid))  # type: ignore[arg-type]


def processes_of(uid: int) -> list[str]:
    found = subprocess.run(["ps", "-o", "pid=", "-u", str(uid)], capture_output=True, text=True)
    return found.stdout.split()


def test_code_runs_and_its_files_stay_in_its_session(new_session: NewSession) -> None:
    s = new_session()
    out = run("import os\nprint(os.getcwd(), 6 * 7)\nopen('made.txt', 'w').write('kept')", s)
    assert out.ended == "exited" and out.exit_code == 0, out
    assert out.stdout == "/mnt/data 42\n"
    assert (s.dir / "made.txt").read_text() == "kept"


def test_no_network_the_gateways_own_port_included(new_session: NewSession) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "for host in ('127.0.0.1', 'localhost'):\n"
            "    try:\n"
            f"        socket.create_connection((host, {port}), timeout=2)\n"
            "        print('connected')\n"
            "    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n"
        )
        out = run(code, new_session())
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing from the sandbox ever arrived
    assert "connected" not in out.stdout and out.stdout.count("refused") == 2, out


def test_no_secret_in_its_environment_or_in_any_process_it_can_see(
    new_session: NewSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINIMAX_API_KEY", "sk-probe-secret-5b1f")
    code = (
        "import os, glob\n"
        "print(dict(os.environ))\n"
        "for path in glob.glob('/proc/[0-9]*/environ'):\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(path, type(exc).__name__)\n"
    )
    out = run(code, new_session())
    assert out.exit_code == 0, out
    assert "/proc/1/environ" in out.stdout  # it looked at PID 1 (bubblewrap) too
    assert "sk-probe-secret-5b1f" not in out.stdout + out.stderr
    assert "MINIMAX_API_KEY" not in out.stdout


def test_the_gateways_files_and_another_sessions_are_out_of_reach(
    new_session: NewSession, base: Path
) -> None:
    database = base / "gateway.db"
    database.write_text("rows")
    other = new_session("other")
    (other.dir / "theirs.csv").write_text("private")
    mine = new_session("mine")
    code = (
        "import os\n"
        f"for path in ({str(database)!r}, {str(other.dir / 'theirs.csv')!r}, '/etc/passwd', "
        f"'/root', {str(Path.cwd())!r}):\n"
        "    try:\n"
        "        print(path, 'OPEN', os.listdir(path) if os.path.isdir(path) else open(path).read())\n"
        "    except OSError as exc:\n"
        "        print(path, type(exc).__name__)\n"
        "print(sorted(os.listdir('/mnt/data')))\n"
    )
    out = run(code, mine)
    assert out.exit_code == 0, out
    assert "OPEN" not in out.stdout and "private" not in out.stdout and "rows" not in out.stdout
    assert out.stdout.rstrip().endswith("[]")  # its own /mnt/data: empty


def test_a_fork_bomb_is_contained_and_ended_by_the_wall_clock(new_session: NewSession) -> None:
    s = new_session()
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    ended: list[Outcome] = []
    bomb = threading.Thread(target=lambda: ended.append(run(code, s, wall_seconds=3, processes=32)))
    bomb.start()
    most = 0
    while bomb.is_alive():
        most = max(most, len(processes_of(s.uid)))
        time.sleep(0.05)
    bomb.join()
    assert ended[0].ended == "timed_out", ended
    assert 3 < most <= 32  # it forked, and never past its process limit (bubblewrap's own included)
    deadline = time.monotonic() + 5  # the kernel ends a dead PID namespace's processes: soon, not at once
    while processes_of(s.uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(s.uid) == []  # nothing of it is left running
    assert run("print('fine')", new_session()).stdout == "fine\n"  # and the next run is unharmed


def test_a_memory_hog_gets_a_memory_error(new_session: NewSession) -> None:
    out = run(
        "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))\n",
        new_session(),
        memory_bytes=512 << 20,
    )
    assert out.ended == "exited" and out.exit_code == 1, out
    assert "MemoryError" in out.stderr


def test_an_infinite_loop_is_ended_by_the_cpu_limit(new_session: NewSession) -> None:
    out = run("while True:\n    pass\n", new_session(), cpu_seconds=1, wall_seconds=20)
    assert out.ended == "signalled" and out.signal in ("SIGXCPU", "SIGKILL"), out


def test_a_10_gb_write_stops_at_the_file_size_limit(new_session: NewSession) -> None:
    s = new_session()
    code = (
        "chunk = b'\\0' * (1 << 20)\n"
        "with open('big', 'wb') as f:\n"
        "    for _ in range(10 * 1024):\n"
        "        f.write(chunk)\n"
    )
    out = run(code, s, file_bytes=32 << 20)
    # Python ignores SIGXFSZ: the write fails with EFBIG, an error the code (and the model) sees.
    assert out.ended == "exited" and out.exit_code == 1 and "File too large" in out.stderr, out
    assert (s.dir / "big").stat().st_size <= 32 << 20


def test_output_beyond_the_limit_is_dropped_not_kept(new_session: NewSession) -> None:
    out = run("import sys\nsys.stdout.write('x' * (8 << 20))\n", new_session(), output_bytes=1 << 20)
    assert out.exit_code == 0 and out.truncated and len(out.stdout) == 1 << 20


def test_without_bubblewrap_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxMissing, match="bubblewrap"):
        Sandbox()
