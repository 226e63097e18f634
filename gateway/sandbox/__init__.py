"""Untrusted Python run in a real isolation boundary, never in the gateway's process (code_interpreter).

`bwrap.py` builds the bubblewrap command (Debian's `bubblewrap`: new user, PID, network, IPC and UTS
namespaces, a read-only system, a private `/mnt/data`, an empty environment); `run.py` starts it as
an unprivileged user of its own with resource limits (CPU, memory, processes, file size, open files) and
a wall clock, and reports how the code ended; `session.py` keeps one sandboxed interpreter per thread
(`kernel.py`, run inside) so that variables and files survive between calls. Where bubblewrap cannot run,
nothing runs: `SandboxMissing`.
"""
