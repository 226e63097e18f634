"""The sandbox's seccomp filter (`gateway/sandbox/seccomp.py`): inside a real sandbox, every refused system
call fails with EPERM (clone3 with ENOSYS), a foreign architecture's call kills the process, and what
data-analysis code needs still works: AF_UNIX sockets, fork, subprocesses, threads, multiprocessing,
numpy, pandas, matplotlib. Without the filter, nothing runs at all. Real bubblewrap; nothing is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
from collections.abc import Callable

import pyseccomp  # type: ignore[import-untyped]
import pytest

from gateway.sandbox.bwrap import SandboxMissing
from gateway.sandbox.run import Outcome, Sandbox
from gateway.sandbox.seccomp import CLONE_NAMESPACES, DENIED, SeccompMissing, build
from tests.sandbox.conftest import Session

NewSession = Callable[..., Session]


def run(code: str, session: Session) -> Outcome:
    return asyncio.run(Sandbox().run(code, session.dir, session.uid))


def number(name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


# Run inside: `call(nr, *args)` makes a raw system call and says how it went ('ok' or the errno's name);
# `probe(name, thunk)` records what a Python call did. Results are printed as JSON at the end.
PRELUDE = """
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
results = {}

def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))
    if nr == CLONE and r == 0:
        os._exit(0)  # a clone the filter let through: the child goes at once, and is reaped
    if nr == CLONE and r > 0:
        os.waitpid(r, 0)
    return "ok" if r != -1 else errno.errorcode[ctypes.get_errno()]

def probe(name, thunk):
    try:
        thunk()
        results[name] = "ok"
    except OSError as exc:
        results[name] = errno.errorcode.get(exc.errno, repr(exc))
    except Exception as exc:
        results[name] = repr(exc)
"""


def probed(code: str, session: Session) -> dict[str, str]:
    out = run(f"CLONE = {number('clone')}\n{PRELUDE}\n{code}\nprint(json.dumps(results))\n", session)
    assert out.ended == "exited" and out.exit_code == 0, out
    results: dict[str, str] = json.loads(out.stdout.splitlines()[-1])
    return results


def test_every_refused_call_fails_with_eperm(new_session: NewSession) -> None:
    # Zero arguments: harmless whatever happens; most would fail without the filter too (no capabilities),
    # the calls the next tests make are the ones that would succeed.
    calls = {name: number(name) for name in DENIED}
    code = f"for name, nr in {calls!r}.items():\n    results[name] = call(nr, 0, 0, 0, 0, 0, 0)\n"
    assert probed(code, new_session()) == dict.fromkeys(DENIED, "EPERM")


def test_calls_that_would_succeed_without_the_filter_fail_with_eperm(new_session: NewSession) -> None:
    nr = {
        name: number(name)
        for name in (
            "ptrace",
            "process_vm_readv",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "io_uring_setup",
            "perf_event_open",
            "userfaultfd",
            "get_mempolicy",
            "mount",
            "clone3",
        )
    }
    code = f"""
nr = {nr!r}
results["process_vm_readv(self)"] = call(nr["process_vm_readv"], os.getpid(), 0, 0, 0, 0, 0)
results["unshare(CLONE_NEWUSER)"] = call(nr["unshare"], 0x10000000)
results["unshare(0)"] = call(nr["unshare"], 0)
results["setns(-1)"] = call(nr["setns"], -1, 0)
results["keyctl(GET_KEYRING_ID, session)"] = call(nr["keyctl"], 0, -3, 1)
results["add_key(user)"] = call(nr["add_key"], b"user", b"probe", b"data", 4, -2)
params = ctypes.create_string_buffer(120)
results["io_uring_setup"] = call(nr["io_uring_setup"], 1, params)
attr = ctypes.create_string_buffer(128)
results["perf_event_open"] = call(nr["perf_event_open"], attr, 0, -1, -1, 0)
results["userfaultfd(UFFD_USER_MODE_ONLY)"] = call(nr["userfaultfd"], os.O_CLOEXEC | 1)
results["get_mempolicy"] = call(nr["get_mempolicy"], 0, 0, 0, 0, 0)
results["mount(tmpfs)"] = call(nr["mount"], b"none", b"/tmp", b"tmpfs", 0, 0)
results["clone3"] = call(nr["clone3"], 0, 0)
for flag in {list(CLONE_NAMESPACES)!r}:
    results[f"clone({{flag:#x}})"] = call(CLONE, flag | 17, 0, 0, 0, 0)  # 17: SIGCHLD
results["ptrace(PTRACE_TRACEME)"] = call(nr["ptrace"], 0, 0, 0, 0)  # last: a tracee stops at signals
"""
    expected = {
        "ptrace(PTRACE_TRACEME)": "EPERM",
        "process_vm_readv(self)": "EPERM",
        "unshare(CLONE_NEWUSER)": "EPERM",
        "unshare(0)": "EPERM",
        "setns(-1)": "EPERM",
        "keyctl(GET_KEYRING_ID, session)": "EPERM",
        "add_key(user)": "EPERM",
        "io_uring_setup": "EPERM",
        "perf_event_open": "EPERM",
        "userfaultfd(UFFD_USER_MODE_ONLY)": "EPERM",
        "get_mempolicy": "EPERM",
        "mount(tmpfs)": "EPERM",
        "clone3": "ENOSYS",  # glibc then falls back to clone
        **{f"clone({flag:#x})": "EPERM" for flag in CLONE_NAMESPACES},
    }
    assert probed(code, new_session()) == expected


def test_only_unix_sockets_can_be_made(new_session: NewSession) -> None:
    code = """
for name in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_ALG", "AF_VSOCK"):
    kind = socket.SOCK_STREAM if name == "AF_INET" else socket.SOCK_RAW
    probe(f"socket({name})", lambda: socket.socket(getattr(socket, name), kind).close())
probe("socketpair(AF_INET)", lambda: socket.socketpair(socket.AF_INET))
probe("create_connection", lambda: socket.create_connection(("127.0.0.1", 80), timeout=1))

def unix():
    a, b = socket.socketpair(socket.AF_UNIX)
    a.sendall(b"ping")
    assert b.recv(4) == b"ping"
    server = socket.socket(socket.AF_UNIX)
    server.bind("/tmp/probe.sock")
    server.listen()
    client = socket.socket(socket.AF_UNIX)
    client.connect("/tmp/probe.sock")
    conn, _ = server.accept()
    client.sendall(b"pong")
    assert conn.recv(4) == b"pong"
probe("AF_UNIX", unix)
"""
    expected = {
        **{f"socket({name})": "EPERM" for name in ("AF_INET", "AF_INET6", "AF_NETLINK")},
        **{f"socket({name})": "EPERM" for name in ("AF_PACKET", "AF_ALG", "AF_VSOCK")},
        "socketpair(AF_INET)": "EPERM",
        "create_connection": "EPERM",
        "AF_UNIX": "ok",
    }
    assert probed(code, new_session()) == expected


def test_personality_keeps_only_the_default_persona_and_the_query(new_session: NewSession) -> None:
    code = f"""
nr = {number("personality")}
for name, persona in (("query", 0xFFFFFFFF), ("PER_LINUX", 0), ("query, 64-bit -1", -1),
                      ("PER_LINUX32", 0x0008), ("ADDR_NO_RANDOMIZE", 0x0040000),
                      ("READ_IMPLIES_EXEC", 0x0400000), ("UNAME26", 0x0020000), ("PER_BSD", 0x0006),
                      ("top bit", 0x80000000), ("all but the top bit", 0x7FFFFFFF)):
    results[name] = call(nr, persona)
"""
    assert probed(code, new_session()) == {
        "query": "ok",
        "PER_LINUX": "ok",
        "query, 64-bit -1": "ok",  # the kernel reads the low 32 bits: all set, the query
        "PER_LINUX32": "EPERM",
        "ADDR_NO_RANDOMIZE": "EPERM",
        "READ_IMPLIES_EXEC": "EPERM",
        "UNAME26": "EPERM",
        "PER_BSD": "EPERM",
        "top bit": "EPERM",
        "all but the top bit": "EPERM",
    }


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the x32 ABI is x86_64's")
def test_a_call_of_another_abi_kills_the_process(new_session: NewSession) -> None:
    code = (
        "import ctypes, sys\n"
        "print('before', flush=True)\n"
        "ctypes.CDLL(None).syscall(0x40000000 | 39)\n"  # x32's getpid
        "print('after')\n"
    )
    out = run(code, new_session())
    assert out.ended == "signalled" and out.signal == "SIGSYS", out
    assert out.stdout == "before\n"


def test_processes_threads_and_the_libraries_still_work(new_session: NewSession) -> None:
    s = new_session()
    code = """
import os, subprocess, threading, multiprocessing
import numpy as np, pandas as pd, matplotlib.pyplot as plt
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
child = subprocess.run(["/usr/bin/python3", "-c", "print(6 * 7)"], capture_output=True, text=True)
print("subprocess", child.stdout.strip())
seen = []
t = threading.Thread(target=seen.append, args=("thread",))
t.start()
t.join()
print(*seen)
with multiprocessing.Pool(2) as pool:
    print("pool", pool.map(abs, [-1, -2, -3]))
a = np.arange(1, 10, dtype=float).reshape(3, 3) + np.eye(3)
print("numpy", round(float(np.linalg.det(a)), 6), np.linalg.solve(a, np.ones(3)).shape)
df = pd.DataFrame({"x": range(5), "y": [1, 4, 9, 16, 25]})
print("pandas", int(df["y"].sum()), df.groupby(df["x"] % 2)["y"].sum().tolist())
df.plot(x="x", y="y")
plt.savefig("plot.png")
print("matplotlib", os.path.getsize("plot.png") > 0)
"""
    out = run(code, s)
    assert out.ended == "exited" and out.exit_code == 0, out
    assert out.stdout.splitlines() == [
        "fork 7",
        "subprocess 42",
        "thread",
        "pool [1, 2, 3]",
        "numpy -2.0 (3,)",
        "pandas 55 [35, 20]",
        "matplotlib True",
    ]
    assert (s.dir / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_filter_is_loaded_and_its_descriptor_leaks_to_neither_side(new_session: NewSession) -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    code = (
        "import os\n"
        "for pid in ('1', 'self'):\n"  # bubblewrap's own process (PID 1) and the code
        "    print(pid, [l.split()[1] for l in open(f'/proc/{pid}/status') if l.startswith('Seccomp:')])\n"
        "print(sorted(os.listdir('/proc/self/fd')))\n"
    )
    out = run(code, new_session())
    assert out.exit_code == 0, out
    assert out.stdout.splitlines() == ["1 ['2']", "self ['2']", "['0', '1', '2', '3']"]  # 3: listdir's
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_without_the_filter_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # the binding (or libseccomp) missing
    with pytest.raises(SeccompMissing, match="seccomp filter cannot be built") as raised:
        Sandbox()
    assert isinstance(raised.value, SandboxMissing)  # whoever handles a missing sandbox handles this


def test_the_program_is_built_the_same_every_time() -> None:
    program = build()
    assert program == build() and len(program) % 8 == 0
