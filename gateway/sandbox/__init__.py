"""Untrusted Python run in a real isolation boundary, never in the gateway's process (code_interpreter).

`bwrap.py` builds the bubblewrap command (Debian's `bubblewrap`: new user, PID, network, IPC and UTS
namespaces, a read-only system, a private `/mnt/data`, an empty environment) with a seccomp filter
(`seccomp.py`, compiled by libseccomp: ptrace, namespaces, mounts, keyrings, BPF, io_uring, sockets other
than AF_UNIX and other calls that widen the kernel's reach fail with EPERM); `run.py` starts it as
an unprivileged user of its own with resource limits (CPU, memory, processes, file size, open files) and
a wall clock, and reports how the code ended; `session.py` keeps one sandboxed interpreter per thread
(`kernel.py`, run inside) so that variables and files survive between calls; `sessions.py` keeps the
sessions (idle expiry, files in and out); `server.py` serves them over HTTP to gateways elsewhere, which
use `remote.py`; `opening.py` chooses, per settings. Where bubblewrap cannot run, or the filter cannot be
built, nothing runs: `SandboxMissing` (`SeccompMissing`), and the tool is refused.

It imports nothing of the engine: the engine asks it for `CodeSessions`.
"""
