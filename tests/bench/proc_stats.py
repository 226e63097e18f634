"""CPU and memory accounting of another process, read from /proc and the kernel's per-process CPU clock.

- `cpu_ns(pid)`: the process's total CPU time (user + system, all threads, exited ones included) in
  ns, from its CPU-time clock (`clock_getcpuclockid(pid)`, i.e. `((~pid) << 3) | CPUCLOCK_SCHED`).
  This is the scheduler's runtime, the same quantity as `/proc/<pid>/stat` utime+stime but without
  the 10 ms tick granularity, which windows of a few ms need.
- `stat_cpu_ns(pid)`: utime+stime from `/proc/<pid>/stat` (ticks), kept as a cross-check.
- `rss_kb(pid)`: VmRSS from `/proc/<pid>/status`.
"""

from __future__ import annotations

import os
import time

_CPUCLOCK_SCHED = 2
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def cpu_clock(pid: int) -> int:
    """The clock id of `pid`'s process-wide CPU-time clock (what glibc's clock_getcpuclockid returns)."""
    return ((~pid) << 3) | _CPUCLOCK_SCHED


def cpu_ns(pid: int) -> int:
    return time.clock_gettime_ns(cpu_clock(pid))


def stat_cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    # After the `(comm)` field: state is fields[0], so utime (field 14) is fields[11], stime fields[12].
    return (int(fields[11]) + int(fields[12])) * _TICK_NS


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    return 0


def self_cpu_ns() -> int:
    return time.process_time_ns()
