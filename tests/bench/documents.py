"""`python -m tests.bench.documents`: the Files and Vector Stores benchmark (ingest, upload, search).

Makes its documents (seeded, `documents_corpus.py`), starts the MiniMax emulator (core 1: chat
upstream and `/v1/embeddings`), and on SQLite, then on a throwaway PostgreSQL, measures with a fresh
gateway process per measurement (core 0): the ingest of a text file and of a PDF (keyword only, and
with embeddings), the upload of a large file, the build of a ~10,000-chunk store, and sequential
keyword and hybrid searches over it. Prints one table (a column per database) and the targets.
See tests/bench/README.md ("Documents").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.documents_corpus import Corpus
from tests.bench.documents_measure import MIB, SETTLE, Env, ingest, store_and_search, upload
from tests.bench.documents_report import Results, render, verdicts
from tests.bench.documents_stack import EmulatorProcess, postgres
from tests.bench.procs import LOAD_CORE, PROXY_CORE, ROOT, pin_self

CHUNKING = (200, 100)  # the search store's static chunking: ~100 chunks from ~10,000 tokens


@dataclass(frozen=True)
class Sizes:
    text_mib: int
    pdf_pages: int
    upload_mib: int
    docs: int  # the search store's documents, of which `cjk` Chinese and `cjk` Japanese
    cjk: int
    doc_tokens: int
    searches: int
    settle: float = SETTLE


FULL = Sizes(text_mib=10, pdf_pages=100, upload_mib=200, docs=100, cjk=3, doc_tokens=10_050, searches=300)
QUICK = Sizes(
    text_mib=1, pdf_pages=10, upload_mib=20, docs=10, cjk=1, doc_tokens=10_050, searches=30, settle=1.5
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.documents", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run (< 1 minute)")
    p.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run on a throwaway PostgreSQL server (default: yes)",
    )
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    return p.parse_args(argv)


@dataclass
class Inputs:
    text: Path
    pdf: Path
    big: Path
    docs: list[Path]
    queries: list[str]


def make_inputs(folder: Path, sizes: Sizes) -> Inputs:
    corpus = Corpus()
    text = folder / "ten.txt"
    corpus.write_text(text, sizes.text_mib * MIB)
    pdf = folder / "report.pdf"
    corpus.write_pdf(pdf, sizes.pdf_pages)
    big = folder / "big.bin"
    block = os.urandom(MIB)
    with big.open("wb") as f:
        for _ in range(sizes.upload_mib):
            f.write(block)
    english: list[str] = []
    cjk: list[str] = []
    docs: list[Path] = []
    for i in range(sizes.docs):
        if i < sizes.cjk:
            body, name = corpus.chinese_document(sizes.doc_tokens), f"zh-{i:03}.txt"
        elif i < 2 * sizes.cjk:
            body, name = corpus.japanese_document(sizes.doc_tokens), f"ja-{i:03}.txt"
        else:
            body, name = corpus.english_document(sizes.doc_tokens), f"en-{i:03}.md"
        (cjk if i < 2 * sizes.cjk else english).append(body)
        docs.append(folder / name)
        docs[-1].write_text(body, encoding="utf-8")
    return Inputs(text, pdf, big, docs, corpus.queries(sizes.searches, english, cjk))


def titles(sizes: Sizes, inputs: Inputs) -> dict[str, str]:
    text_mib = inputs.text.stat().st_size / MIB
    pdf = f"{sizes.pdf_pages}-page PDF (~3,000 characters a page, {inputs.pdf.stat().st_size / MIB:.2f} MiB)"
    cjk = f"{sizes.cjk} Chinese, {sizes.cjk} Japanese"
    return {
        "text": f"1. ingest {text_mib:.0f} MiB text file, auto chunking (800/400), keyword only",
        "text_emb": "1b. the same, with embeddings (EMBEDDINGS_URL = the emulator)",
        "pdf": f"2. ingest {pdf}, auto chunking, keyword only",
        "pdf_emb": "2b. the same, with embeddings",
        "upload": f"3. upload {sizes.upload_mib} MiB file (files.create, streamed multipart)",
        "store": f"4. store: {sizes.docs} files ({cjk}, the rest English), one file batch, static "
        f"{CHUNKING[0]}/{CHUNKING[1]} chunking, with embeddings",
        "keyword": f"4. keyword search ({sizes.searches} sequential queries, up to 10 results)",
        "hybrid": "4. hybrid search (keyword + embeddings, fused by reciprocal rank), same queries",
        "rounds": "4c. runs with file_search over the same store (keyword), one at a time",
        "rates": "5. chunks indexed per second (chunks / ingest seconds, from 1, 1b and 4)",
    }


def run_db(env: Env, inputs: Inputs) -> dict[str, Any]:
    out: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("text", lambda: ingest(env, inputs.text, inputs.text.name, embeddings=False, name="text")),
        ("text_emb", lambda: ingest(env, inputs.text, inputs.text.name, embeddings=True, name="text-emb")),
        ("pdf", lambda: ingest(env, inputs.pdf, inputs.pdf.name, embeddings=False, name="pdf")),
        ("pdf_emb", lambda: ingest(env, inputs.pdf, inputs.pdf.name, embeddings=True, name="pdf-emb")),
        ("upload", lambda: upload(env, inputs.big)),
    ]
    for key, step in steps:
        started = time.monotonic()
        out[key] = step()
        print(f"  {env.name:10} {key:9} {time.monotonic() - started:6.1f} s", file=sys.stderr, flush=True)
    started = time.monotonic()
    out.update(store_and_search(env, inputs.docs, inputs.queries, CHUNKING))
    out["rates"] = {key: out[key]["chunks_s"] for key in ("text", "text_emb", "store")}
    print(f"  {env.name:10} store+search {time.monotonic() - started:6.1f} s", file=sys.stderr, flush=True)
    return out


def _code_state() -> str:
    """A digest of the gateway's sources, so a table can be tied to the code it measured."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    pin_self(LOAD_CORE)
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    log_dir = folder / "logs"
    log_dir.mkdir()
    print(
        f"minimax-gateway documents benchmark ({'quick' if args.quick else 'full'}); gateway sources "
        f"sha1 {_code_state()}; python {sys.version.split()[0]}; {os.cpu_count()} cores; gateway "
        f"(and PostgreSQL) on core {PROXY_CORE}, client and emulator on core {LOAD_CORE}; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + "\n",
        flush=True,
    )
    (folder / "inputs").mkdir()
    inputs = make_inputs(folder / "inputs", sizes)
    heads = titles(sizes, inputs)
    print(f"  inputs made in {time.monotonic() - started:.1f} s in {folder}", file=sys.stderr, flush=True)
    emulator = EmulatorProcess(log_dir)
    results: Results = {}
    try:
        db = folder / "sqlite" / "gateway.db"
        db.parent.mkdir()
        results["SQLite"] = run_db(
            Env("SQLite", emulator.url, f"sqlite:///{db}", log_dir, settle=sizes.settle), inputs
        )
        if args.postgres:
            with postgres() as pg:
                env = Env(
                    "PostgreSQL", emulator.url, pg.fresh_database(), log_dir, pg.postmaster, sizes.settle
                )
                results["PostgreSQL"] = run_db(env, inputs)
    finally:
        emulator.stop()
        for sub in ("inputs", "sqlite"):
            shutil.rmtree(folder / sub, ignore_errors=True)
    if args.json:
        args.json.write_text(
            json.dumps({"sizes": sizes.__dict__, "titles": heads, "results": results}, indent=1)
        )
    print(render(results, heads))
    print()
    print(verdicts(results))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\ntotal time {time.monotonic() - started:.0f} s; load average {load}; process logs in {log_dir}")


if __name__ == "__main__":
    main()
