"""The issue's performance targets, each judged on one table cell's median (PASS, FAIL or info), and
how a verdict is printed: with the baseline's figure beside the gateway's when the baseline ran, and
the errors of the judged column when it had any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.bench.report import Table


def num(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


@dataclass(frozen=True)
class Check:
    scenario: str
    key: str
    column: str  # a target, or a ratio of two ("gateway÷naive")
    limit: float
    text: str
    at_least: bool = False
    target: bool = True  # False: shown for information, not one of the targets
    when_run: bool = False  # printed only when every target of `column` ran (a comparison left out else)


CHECKS = [
    Check("s32", "cpu_us_frame", "gateway÷naive", 0.35, "CPU/event at 32 full-speed streams ≤ 0.35x naive"),
    Check("p500x5", "cpu_us_frame", "gateway÷naive", 0.6, "CPU/event at 500 streams @5/s ≤ 0.6x naive"),
    Check("p500x5", "added_p99_ms", "gateway", 10, "added latency p99 at 500 streams @5/s ≤ 10 ms"),
    Check("p500x5", "ttfe_p99_ms", "gateway", 100, "TTFE p99 ≤ 100 ms, 500 streams opened in 2 s (@5/s)"),
    # The issue gives its TTFE figures for 500 streams at 5 frames/s; at 50 frames/s (25,000 frames/s
    # on one core) the same bound is shown, not judged.
    Check(
        "p500x50",
        "ttfe_p99_ms",
        "gateway",
        100,
        "TTFE p99 ≤ 100 ms at 50 frames/s (beyond the issue's targets)",
        target=False,
    ),
    Check("long_inc", "last_first_frame", "gateway", 1.2, "incremental 20k: last 5,000 ≤ 1.2x first 5,000"),
    Check(
        "long_cum", "last_first_byte", "gateway", 1.2, "cumulative 20k: last ≤ 1.2x first, per upstream byte"
    ),
    Check("long_inc", "cpu_total_ms", "gateway÷naive", 1.0, "incremental 20k: total CPU ≤ 1.0x naive"),
    Check("long_cum", "cpu_total_ms", "gateway÷naive", 1.0, "cumulative 20k: total CPU ≤ 1.0x naive"),
    Check("soak", "kb_stream", "gateway", 32, "≤ 32 KB per open idle stream"),
    Check("soak", "growth_kb_stream", "gateway", 1.0, "no RSS growth over the soak (≤ 1 KB/stream)"),
    Check("soak", "errors", "gateway", 0, "5,000 open streams in one process without errors"),
    # The engine (BACKEND=engine) over MiniMax chat completions.
    Check(
        "chat_s32",
        "cpu_us_frame",
        "engine÷naive-chat",
        0.4,
        "engine CPU/chunk at 32 streams ≤ 0.4x naive-chat",
    ),
    Check("chat_s32", "cpu_us_frame", "engine÷nginx", 3.0, "engine CPU/chunk at 32 streams ≤ 3x nginx"),
    Check("chat_p500x5", "added_p99_ms", "engine", 10, "engine added latency p99, 500 streams @5/s ≤ 10 ms"),
    Check("chat_p500x5", "ttfe_p99_ms", "engine", 100, "engine TTFE p99 ≤ 100 ms, 500 streams opened in 2 s"),
    Check(
        "chat_long",
        "last_first_frame",
        "engine",
        1.2,
        "engine 20k-chunk reply: last 5,000 ≤ 1.2x first 5,000",
    ),
    Check("chat_soak", "kb_stream", "engine", 48, "≤ 48 KB per open engine stream"),
    Check(
        "chat_soak",
        "growth_kb_stream",
        "engine",
        1.0,
        "no engine RSS growth over the soak (≤ 1 KB/stream)",
        target=False,
    ),
    Check("chat_soak", "errors", "engine", 0, "5,000 open engine streams without errors"),
    Check(
        "store",
        "store_cpu_best_ms",
        "engine",
        1.5,
        "store CPU per run (create to completed, SQLite) ≤ 1.5 ms",
    ),
    # Two replicas on one PostgreSQL database against one process on SQLite: the replicas' CPU per
    # chunk, summed (PostgreSQL's own is in its table rows, not in this ratio). The issue sets it for
    # the 500-stream paced runs; at full speed (32 clients) it is shown, not judged.
    Check(
        "run_p500x5",
        "cpu_us_frame",
        "engine-pg2÷engine",
        1.2,
        "2 replicas on PostgreSQL: CPU/chunk ≤ 1.2x one process on SQLite (500 streams @5/s)",
        when_run=True,
    ),
    Check(
        "run_p500x50",
        "cpu_us_frame",
        "engine-pg2÷engine",
        1.2,
        "2 replicas on PostgreSQL: CPU/chunk ≤ 1.2x one process on SQLite (500 streams @50/s)",
        when_run=True,
    ),
    Check(
        "run_s32",
        "cpu_us_frame",
        "engine-pg2÷engine",
        1.2,
        "2 replicas on PostgreSQL: CPU/chunk ≤ 1.2x SQLite at 32 full-speed clients (beyond the issue)",
        target=False,
        when_run=True,
    ),
]


def applies(check: Check, table: Table) -> bool:
    """Whether `check` belongs below `table`: its scenario's, and its columns ran if it asks for that."""
    if check.scenario != table.scenario.name:
        return False
    return not check.when_run or all(t in table.targets for t in check.column.split("÷"))


def check_result(check: Check, table: Table) -> tuple[float | None, bool | None]:
    value = table.median(check.column, check.key)
    if value is None:
        return None, None
    return value, value >= check.limit if check.at_least else value <= check.limit


def _shown(value: float | None, column: str) -> str:
    return "-" if value is None else num(value) + ("x" if "÷" in column else "")


def check_line(check: Check, table: Table, quick: bool) -> str:
    value, ok = check_result(check, table)
    mark = "n/a " if ok is None else ("PASS" if ok else "FAIL")
    if not check.target:
        mark = "info" + ("" if ok is None else (" (within)" if ok else " (over)"))
    line = f"{mark}  {check.text}: {_shown(value, check.column)}"
    if check.column.split("÷")[0] == "gateway" and "baseline" in table.targets:
        other = check.column.replace("gateway", "baseline", 1)
        line += f" (baseline {_shown(table.median(other, check.key), other)})"
    errors = sum(table.median(t, "errors") or 0 for t in check.column.split("÷") if t in table.targets)
    if errors and check.key != "errors":
        line += f"  [with errors in the runs: {num(errors)} (median)]"
    return line + ("  (quick run: sizes too small to judge)" if quick else "")


def summary(tables: dict[str, Table], quick: bool) -> str:
    lines = ["Issue targets (medians over repeats):"]
    for check in CHECKS:
        table = tables.get(check.scenario)
        if table is not None and applies(check, table):
            lines.append("  " + check_line(check, table, quick))
    return "\n".join(lines)
