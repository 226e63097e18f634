"""The documents benchmark's table: one row per figure, one column per database, and the issue's
targets judged on each database (PASS/FAIL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.bench.checks import num

Results = dict[str, dict[str, dict[str, Any]]]  # database -> section -> metric -> value


@dataclass(frozen=True)
class Target:
    section: str
    key: str
    limit: float
    text: str


TARGETS = [
    Target("upload", "rss_growth_mib", 64, "upload: gateway RSS growth ≤ 64 MiB (streamed)"),
    Target("keyword", "p99_ms", 50, "keyword search p99 ≤ 50 ms"),
    Target("hybrid", "p99_ms", 100, "hybrid search p99 ≤ 100 ms"),
    Target("rounds", "p99_bound_ms", 50, "file_search round in a run, gateway time p99 ≤ 50 ms"),
]

SPAN_ROWS = [
    ("seconds", "seconds"),
    ("cpu_s", "gateway CPU, s"),
    ("db_cpu_s", "PostgreSQL server CPU, s"),
    ("rss_base_mib", "gateway RSS before, MiB"),
    ("rss_peak_mib", "gateway peak RSS, MiB"),
    ("rss_growth_mib", "gateway RSS growth (peak - before), MiB"),
    ("idle_ms_s", "gateway idle CPU before, ms/s"),
]
INGEST_ROWS = [*SPAN_ROWS[:1], ("chunks", "chunks"), ("chunks_s", "chunks indexed / s"), *SPAN_ROWS[1:]]
SEARCH_ROWS = [
    ("first_ms", "first search after start, ms"),
    ("p50_ms", "latency p50, ms"),
    ("p90_ms", "latency p90, ms"),
    ("p99_ms", "latency p99, ms"),
    ("max_ms", "latency max, ms"),
    ("cpu_ms", "gateway CPU per search, ms"),
    ("db_cpu_ms", "PostgreSQL server CPU per search, ms"),
    ("empty", "searches with no result"),
]


def sections(titles: dict[str, str]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(section key, title, rows) in the table's order; `titles` gives each section's title."""
    upload = [("seconds", "seconds"), ("mib_s", "MiB/s"), *SPAN_ROWS[1:]]
    store = [
        ("upload_s", "upload of the files first (not in the ingest), s"),
        ("seconds", "seconds, batch created to completed"),
        ("chunks", "chunks"),
        ("chunks_s", "chunks indexed / s"),
        *SPAN_ROWS[1:],
    ]
    layout = {
        "text": INGEST_ROWS,
        "text_emb": INGEST_ROWS,
        "pdf": INGEST_ROWS,
        "pdf_emb": INGEST_ROWS,
        "upload": upload,
        "store": store,
        "keyword": SEARCH_ROWS,
        "hybrid": SEARCH_ROWS,
        "rounds": [
            ("runs", "runs"),
            ("failed", "runs not completed"),
            ("rounds", "search rounds"),
            ("mean_ms", "gateway time per round, mean, ms"),
            ("p99_bound_ms", "gateway time per round, p99 (histogram bucket bound), ms"),
            ("within_50_ms", "share of rounds within 50 ms"),
        ],
        "rates": [
            ("text", "text file, 800/400, keyword only (1)"),
            ("text_emb", "the same with embeddings (1b)"),
            ("store", "the store, 200/100, with embeddings (4)"),
        ],
    }
    return [(key, titles[key], rows) for key, rows in layout.items() if key in titles]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return num(float(value))


def render(results: Results, titles: dict[str, str]) -> str:
    """The table: each section's title on a line of its own, then its rows, one column per database."""
    dbs = list(results)
    body: list[list[str] | str] = []
    for key, title, rows in sections(titles):
        if not any(key in results[db] for db in dbs):
            continue
        body.append(title)
        for metric, label in rows:
            cells = [_cell(results[db].get(key, {}).get(metric)) for db in dbs]
            if not all(c == "-" for c in cells):
                body.append(["  " + label, *cells])
    table = [["", *dbs], *(r for r in body if isinstance(r, list))]
    widths = [max(len(r[i]) for r in table) for i in range(len(dbs) + 1)]

    def line(row: list[str]) -> str:
        cells = (
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    return "\n".join([line(table[0]), *(r if isinstance(r, str) else line(r) for r in body)])


def verdicts(results: Results) -> str:
    lines = ["targets:"]
    for target in TARGETS:
        for db, by_section in results.items():
            value = by_section.get(target.section, {}).get(target.key)
            if value is None:
                continue
            verdict = "PASS" if value <= target.limit else "FAIL"
            lines.append(f"  {verdict}  {db:10}  {target.text}: {num(value)}")
    return "\n".join(lines)
