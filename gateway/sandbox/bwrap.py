"""The bubblewrap command line for one sandboxed Python run.

What the code sees: the system's `/usr` read-only (and the `/bin`, `/lib`, `/lib64` links into it), the few
files of `/etc` its libraries need (`ETC`, read-only), a fresh `/proc` of its own PID namespace, a minimal
`/dev`, an empty `/tmp`, and `/mnt/data` (its session's directory, the only place it can write that outlives
the run). Nothing else of the host: not the rest of `/etc`, `/root`, `/home`, the gateway's files or database,
nor another session's directory. No network (a network namespace with only its own loopback), no environment
beyond what is set here, all capabilities dropped, a new session (no terminal to write to), and everything
killed when the run's process dies. And a seccomp filter (`seccomp.py`): the system calls that would open
more of the kernel to it (ptrace, namespaces, mounts, keyrings, BPF, io_uring, sockets other than AF_UNIX,
and more) fail with EPERM.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

DATA: Final = "/mnt/data"
PYTHON: Final = "/usr/bin/python3"  # Debian's interpreter and its packages, inside the read-only /usr
ENV: Final = {
    "PATH": "/usr/bin",
    "HOME": DATA,
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",  # matplotlib draws to files: there is no display
    "MPLCONFIGDIR": "/tmp/matplotlib",  # caches (matplotlib's, fontconfig's): kept out of the session's files
    "XDG_CACHE_HOME": "/tmp/cache",
    "PYTHONDONTWRITEBYTECODE": "1",
    # numpy's BLAS starts a thread per CPU it sees; threads count against the processes limit.
    "OPENBLAS_NUM_THREADS": "4",
    "OMP_NUM_THREADS": "4",
}


# The few files of /etc that libraries inside need (shared-library links Debian keeps as alternatives, the
# loader's cache, fontconfig and Debian's matplotlibrc for matplotlib); none holds anything of the host's.
ETC: Final = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/fonts", "/etc/localtime", "/etc/matplotlibrc")


def _ro_etc() -> list[str]:
    args: list[str] = []
    for path in ETC:
        args += ["--ro-bind-try", path, path]
    return args


class SandboxMissing(RuntimeError):
    """bubblewrap is not installed (or not runnable): code is never run without it."""


def find_bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxMissing("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    return found


def command(bwrap: str, data_dir: Path, argv: list[str], *, seccomp_fd: int) -> list[str]:
    """`argv` (a program inside the sandbox) run by bubblewrap with `data_dir` as `/mnt/data`, under the
    seccomp filter bubblewrap reads from `seccomp_fd` (`seccomp.memfd`; the process must inherit it)."""
    cmd = [
        bwrap,
        "--unshare-all",  # user, PID, network, IPC, UTS and cgroup namespaces
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        *_ro_etc(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--dir",
        "/mnt",
        "--bind",
        str(data_dir),
        DATA,
        "--chdir",
        DATA,
        "--clearenv",
    ]
    for name, value in ENV.items():
        cmd += ["--setenv", name, value]
    cmd += ["--seccomp", str(seccomp_fd)]  # loaded last, just before `argv` starts
    return [*cmd, "--", *argv]
