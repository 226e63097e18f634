"""CPU and memory accounting of another process, read from /proc and the kernel's per-process CPU clock.

- `cpu_ns(pid)`: the process's total CPU time (user + system, all threads, exited ones included) in
  ns, from its CPU-time clock (`clock_getcpuclockid(pid)`, i.e. `((~pid) << 3) | CPUCLOCK_SCHED`).
  This is the scheduler's runtime, the same quantity as `/proc/<pid>/stat` utime+stime but without
  the 10 ms tick granularity, which windows of a few ms need.
- `stat_cpu_ns(pid)`: utime+stime from `/proc/<pid>/stat` (ticks), kept as a cross-check.
- `system_ns(pid)`: stime alone (ticks): the part of the CPU spent in the kernel on the process's behalf
  (its system calls, and the loopback TCP work they do), which a proxy in any language pays.
- `tree_cpu_ns(pid)`: a server that forks a process per connection (PostgreSQL's postmaster): utime +
  stime of the process and of its live children, plus its cutime + cstime (the children it has reaped),
  in ticks. A child that exits between two reads moves from the first sum to the second, so the
  difference of two reads is the tree's CPU in between.
- `children(pid)`: the live children of a process (a scan of /proc).
- `rss_kb(pid)`: VmRSS from `/proc/<pid>/status`.
"""

from __future__ import annotations

import contextlib
import os
import time

_CPUCLOCK_SCHED = 2
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def cpu_clock(pid: int) -> int:
    """The clock id of `pid`'s process-wide CPU-time clock (what glibc's clock_getcpuclockid returns)."""
    return ((~pid) << 3) | _CPUCLOCK_SCHED


def cpu_ns(pid: int) -> int:
    return time.clock_gettime_ns(cpu_clock(pid))


def _stat(pid: int) -> list[bytes]:
    """The fields of `/proc/<pid>/stat` after `(comm)`: state is [0], ppid [1], utime (field 14) [11],
    stime [12], cutime [13], cstime [14]."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def stat_cpu_ns(pid: int) -> int:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) * _TICK_NS


def system_ns(pid: int) -> int:
    return int(_stat(pid)[12]) * _TICK_NS


def children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):  # gone meanwhile, or not a process
                if int(_stat(int(entry))[1]) == parent:
                    out.append(int(entry))
    return out


def tree_cpu_ns(parent: int) -> int:
    """utime+stime of `parent` and its live children, plus its cutime+cstime (its reaped children)."""
    total = sum(int(x) for x in _stat(parent)[11:15])
    for child in children(parent):
        with contextlib.suppress(OSError, IndexError):  # exited since the scan: in cutime next time
            fields = _stat(child)
            total += int(fields[11]) + int(fields[12])
    return total * _TICK_NS


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    return 0


def self_cpu_ns() -> int:
    return time.process_time_ns()
