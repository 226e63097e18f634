"""The report: per-run metrics, medians and min-max spread over repeats, one table per scenario
(metrics x its family's targets and ratios, e.g. direct / naive / gateway / baseline / gateway÷naive);
the issue's targets (checks.py) are marked PASS or FAIL below each table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.bench.checks import CHECKS, applies, check_line, num
from tests.bench.load import LoadResult
from tests.bench.scenarios import FAMILY_TARGETS, RATIOS, REPLICAS, Scenario
from tests.bench.upstream import message_frame_bytes

Metrics = dict[str, Any]


def pct(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _slope(trace: list[tuple[int, int]], lo: int, hi: int) -> float | None:
    """Proxy CPU ns per token over tokens lo..hi: least squares over the samples in the window plus
    the two that bracket it (each sample pairs a token count with the CPU read at that moment). Only
    the first sample of each token count counts: the reads after the last token (the closing events,
    `done`) add the stream's end to its CPU, not more tokens, and would tilt the last window."""
    first: dict[int, tuple[int, int]] = {}
    for point in trace:
        first.setdefault(point[0], point)
    trace = list(first.values())
    inside = [p for p in trace if lo <= p[0] <= hi]
    before = [p for p in trace if p[0] < lo]
    after = [p for p in trace if p[0] > hi]
    points = ([before[-1]] if before else []) + inside + ([after[0]] if after else [])
    if len({p[0] for p in points}) < 2:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return sxy / sxx


def run_metrics(sc: Scenario, target: str, res: LoadResult) -> Metrics:
    """Everything the tables show for one run of one scenario against one target."""
    proxied = target != "direct"
    wall = res.wall_s or 1e-9
    m: Metrics = {
        "errors": sum(res.errors.values()),
        "error_kinds": dict(res.errors),
        "ttfe_p50_ms": _ms(pct(res.ttfe_s, 0.5)),
        "ttfe_p99_ms": _ms(pct(res.ttfe_s, 0.99)),
        "load_pct": (res.upstream_cpu_ns + res.client_cpu_ns) / 1e9 / wall * 100,
    }
    if proxied:
        m["proxy_pct"] = res.proxy_cpu_ns / 1e9 / wall * 100
    if sc.kind == "window":
        return _window_metrics(sc, m, res, proxied, postgres=target in REPLICAS)
    if sc.kind == "soak":
        m["opened"] = res.opened
        m["open_s"] = res.open_s
        if proxied and res.hold_rss_kb and res.opened:
            m["kb_stream"] = (res.hold_rss_kb[0] - res.rss_base_kb) / res.opened
            m["growth_kb_stream"] = (res.hold_rss_kb[-1] - res.hold_rss_kb[0]) / res.opened
            m["rss_mb"] = " ".join(f"{kb / 1024:.0f}" for kb in [res.rss_base_kb, *res.hold_rss_kb])
        return m
    frames = res.tokens + sc.extra_frames * res.streams_ok  # message frames + the others per stream
    m.update(
        streams_s=res.streams_ok / wall,
        events_s=res.events / wall,
        lat_p50_ms=_ms(pct(res.latency_s, 0.5)),
        lat_p99_ms=_ms(pct(res.latency_s, 0.99)),
    )
    if proxied:
        m["cpu_us_frame"] = res.proxy_cpu_ns / 1000 / max(frames, 1)
        m["kb_stream"] = (res.rss_peak_kb - res.rss_base_kb) / max(res.open_peak, 1)
    if sc.kind == "long" and proxied:
        m["cpu_total_ms"] = res.proxy_cpu_ns / 1e6
        w, n = sc.window, sc.frames
        first, last = _slope(res.trace, 1, 1 + w), _slope(res.trace, n - w, n)
        if first and last:
            m["cpu_first_ms"] = first * w / 1e6
            m["cpu_last_ms"] = last * w / 1e6
            m["last_first_frame"] = last / first
        if first and last and sc.family == "assistants":  # chat chunks are incremental: judged per chunk
            shape = sc.shape
            b_first = sum(message_frame_bytes(k, shape) for k in range(2, 2 + w))
            b_last = sum(message_frame_bytes(k, shape) for k in range(n - w + 1, n + 1))
            m["mb_first"], m["mb_last"] = b_first / 1e6, b_last / 1e6
            m["last_first_byte"] = (last / b_last) / (first / b_first)
    return m


def _window_metrics(sc: Scenario, m: Metrics, res: LoadResult, proxied: bool, *, postgres: bool) -> Metrics:
    """The `run` scenarios (load_window.py): every count is the window's, `res.wall_s` its length; a
    chunk is a content chunk (one timestamp token) read by the client. On PostgreSQL (`engine-pg*`)
    the proxy's CPU is its replicas' summed, the server's is shown apart and with it, and the proxy
    core's busy share counts both (the server is pinned to that core)."""
    wall = res.wall_s or 1e-9
    offered = sc.offered_s
    m.update(
        streams_s=res.streams_ok / wall,
        events_s=res.events / wall,
        chunks_s=res.tokens / wall,
        offered_s=offered,
        of_offered=res.tokens / wall / offered if offered else None,
        lat_p50_ms=_ms(pct(res.latency_s, 0.5)),
        lat_p99_ms=_ms(pct(res.latency_s, 0.99)),
        late_first=res.late_first,
        started=res.started,
    )
    if proxied:
        m["cpu_us_frame"] = res.proxy_cpu_ns / 1000 / max(res.tokens, 1)
        m["system_us_chunk"] = res.proxy_system_ns / 1000 / max(res.tokens, 1)
        m["user_us_chunk"] = m["cpu_us_frame"] - m["system_us_chunk"]
    if postgres:
        m["db_cpu_us_chunk"] = res.db_cpu_ns / 1000 / max(res.tokens, 1)
        m["with_db_cpu_us_chunk"] = (res.proxy_cpu_ns + res.db_cpu_ns) / 1000 / max(res.tokens, 1)
        m["proxy_pct"] = (res.proxy_cpu_ns + res.db_cpu_ns) / 1e9 / wall * 100
    for kind in ("write", "read"):
        if kind in res.rates:
            m[f"tx_{kind}_s"] = res.rates[kind]
    rates = res.rates
    if "gc_sum" in rates:  # the engine's /metrics has the collector's pauses (not an older baseline's)
        m["gc_ms_s"] = rates["gc_sum"] * 1000
        m["gc_long_s"] = rates["gc_count"] - rates.get("gc_short", 0.0)
    return m


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    kinds: str = "load long soak"


ROWS = [
    Row("opened", "streams opened", "soak"),
    Row("open_s", "time to open all, s", "soak"),
    Row("streams_s", "streams/s", "load long"),
    Row("events_s", "events/s (client)", "load long"),
    Row("cpu_us_frame", "CPU µs/event (proxy)", "load long"),
    Row("streams_s", "streams ended/s", "window"),
    Row("started", "streams started (ramp + window)", "window"),
    Row("events_s", "SSE events/s (client)", "window"),
    Row("chunks_s", "chunks/s delivered", "window"),
    Row("offered_s", "chunks/s offered (upstream pace)", "window"),
    Row("of_offered", "delivered ÷ offered", "window"),
    Row("of_direct", "delivered ÷ direct's", "window"),
    Row("cpu_us_frame", "CPU µs/chunk (proxy; replicas summed)", "window"),
    Row("user_us_chunk", "  of which user (the proxy's own code), µs", "window"),
    Row("system_us_chunk", "  of which system (kernel: syscalls, loopback TCP), µs", "window"),
    Row("db_cpu_us_chunk", "PostgreSQL server CPU µs/chunk", "window"),
    Row("with_db_cpu_us_chunk", "CPU µs/chunk, replicas + PostgreSQL", "window"),
    Row("cpu_total_ms", "CPU total, ms", "long"),
    Row("cpu_first_ms", "CPU first window, ms", "long"),
    Row("cpu_last_ms", "CPU last window, ms", "long"),
    Row("mb_first", "upstream MB first window", "long"),
    Row("mb_last", "upstream MB last window", "long"),
    Row("last_first_frame", "last÷first per frame", "long"),
    Row("last_first_byte", "last÷first per byte", "long"),
    Row("proxy_pct", "proxy core busy %", "load long soak window"),
    Row("idle_ms_s", "proxy idle CPU before load, ms/s", "load long soak window"),
    Row("ttfe_p50_ms", "TTFE p50, ms", "load long soak window"),
    Row("ttfe_p99_ms", "TTFE p99, ms", "load long soak window"),
    Row("late_first", "streams waiting > 1 s for a first event at the end", "window"),
    Row("lat_p50_ms", "latency p50, ms", "load long window"),
    Row("lat_p99_ms", "latency p99, ms", "load long window"),
    Row("added_p50_ms", "added latency p50, ms", "load long window"),
    Row("added_p99_ms", "added latency p99, ms", "load long window"),
    Row("tx_write_s", "store write transactions/s", "window"),
    Row("tx_read_s", "store read transactions/s", "window"),
    Row("gc_ms_s", "GC pauses, ms/s (engine's /metrics)", "window"),
    Row("gc_long_s", "GC pauses > 10 ms, per s", "window"),
    Row("kb_stream", "KB/stream (RSS)", "load soak"),
    Row("growth_kb_stream", "RSS growth in hold, KB/stream", "soak"),
    Row("rss_mb", "RSS MB: base, hold samples", "soak"),
    Row("load_pct", "load core busy % (client+upstream)", "load long soak window"),
    Row("errors", "errors", "load long soak window"),
    Row("store_runs", "rounds x runs", "store"),
    Row("store_cpu_best_ms", "store CPU ms/run, best round", "store"),
    Row("store_cpu_median_ms", "store CPU ms/run, median round", "store"),
    Row("store_wall_best_ms", "store wall ms/run, best round", "store"),
]


RATIO_KEYS = {
    "cpu_us_frame",
    "cpu_total_ms",
    "kb_stream",
    "events_s",
    "streams_s",
    "lat_p99_ms",
    "ttfe_p99_ms",
}
WINDOW_RATIO_KEYS = RATIO_KEYS | {
    "user_us_chunk",
    "system_us_chunk",
    "chunks_s",
    "ttfe_p50_ms",
    "lat_p50_ms",
    "added_p50_ms",
    "added_p99_ms",
}


def _cell(values: list[Any]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    if isinstance(vals[0], str):
        return vals[0]
    med = statistics.median(vals)
    if len(vals) == 1:
        return num(med)
    return f"{num(med)} [{num(min(vals))}-{num(max(vals))}]"


class Table:
    """All runs of one scenario: `runs[target]` is one Metrics per repeat, in repeat order. Columns:
    the scenario family's targets that run, then its ratios (`a÷b`, per repeat) among them."""

    def __init__(self, scenario: Scenario, targets: Sequence[str]) -> None:
        self.scenario = scenario
        self.targets = [t for t in FAMILY_TARGETS[scenario.family] if t in targets]
        self.ratios = [
            f"{a}÷{b}" for a, b in RATIOS[scenario.family] if a in self.targets and b in self.targets
        ]
        self.runs: dict[str, list[Metrics]] = {t: [] for t in self.targets}

    def add(self, target: str, metrics: Metrics) -> None:
        self.runs[target].append(metrics)

    def _added(self) -> None:
        """Added latency pXX = a target's latency pXX minus the direct run's p50 (same repeat): the
        direct median is the cost of the upstream write and the client read alone. (Subtracting the
        direct p99 instead would credit the proxy with the load core's own tail.)"""
        direct = self.runs.get("direct", [])
        for target in self.targets:
            for i, m in enumerate(self.runs[target]):
                d = direct[i] if i < len(direct) else (direct[-1] if direct else None)
                base = d.get("lat_p50_ms") if d else None
                for q in ("p50", "p99"):
                    mine = m.get(f"lat_{q}_ms")
                    if mine is None or base is None or target == "direct":
                        m[f"added_{q}_ms"] = None
                    else:
                        m[f"added_{q}_ms"] = max(mine - base, 0.0)
                if self.scenario.kind == "window":  # chunks/s delivered ÷ direct's in the same repeat
                    mine, theirs = m.get("chunks_s"), d.get("chunks_s") if d else None
                    m["of_direct"] = mine / theirs if mine is not None and theirs else None

    def values(self, column: str, key: str) -> list[Any]:
        """A target's values of `key` per repeat, or a ratio's (`a÷b`)."""
        if "÷" not in column:
            return [m.get(key) for m in self.runs.get(column, [])]
        num, den = column.split("÷")
        out = []
        for g, n in zip(self.runs.get(num, []), self.runs.get(den, []), strict=False):
            a, b = g.get(key), n.get(key)
            out.append(a / b if isinstance(a, float | int) and isinstance(b, float | int) and b else None)
        return out

    def median(self, column: str, key: str) -> float | None:
        vals = [v for v in self.values(column, key) if isinstance(v, float | int)]
        return statistics.median(vals) if vals else None

    def render(self, quick: bool) -> str:
        self._added()
        sc = self.scenario
        reps = max((len(v) for v in self.runs.values()), default=0)
        lines = [f"[{sc.name}] {sc.title}: {reps} repeat(s), median [min-max]"]
        header = ["metric", *self.targets, *self.ratios]
        body: list[list[str]] = []
        ratio_keys = WINDOW_RATIO_KEYS if sc.kind == "window" else RATIO_KEYS
        for row in ROWS:
            if sc.kind not in row.kinds.split():
                continue
            cells = [_cell(self.values(t, row.key)) for t in self.targets]
            if all(c == "-" for c in cells):
                continue
            ratios = [_cell(self.values(r, row.key)) if row.key in ratio_keys else "" for r in self.ratios]
            body.append([row.label, *cells, *ratios])
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        fmt: Callable[[list[str]], str] = lambda r: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        lines.append(fmt(header))
        lines += [fmt(r) for r in body]
        kinds: dict[str, int] = {}
        for target in self.targets:
            for m in self.runs[target]:
                for kind, count in m.get("error_kinds", {}).items():
                    kinds[f"{target}:{kind}"] = kinds.get(f"{target}:{kind}", 0) + count
        if kinds:
            lines.append("errors: " + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))
        for check in CHECKS:
            if applies(check, self):
                lines.append("  " + check_line(check, self, quick))
        return "\n".join(lines)
