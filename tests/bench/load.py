"""The load client: aiohttp keeping C streams open, parsing SSE incrementally, timing every event.

Per stream it records the time to first event (request sent -> first complete SSE event) and, for
every message frame's timestamp token (`t<unix time>|`, see upstream.py), the latency from the
upstream writing the frame to this client reading the event that carries it. It understands both
what a pass-through relays (raw MiniMax `data:` frames or chat chunks; in the cumulative dialect
only the last token of a frame is new) and what the gateway or the engine sends
(`thread.message.delta` events, whose value may carry several tokens when a frame was held back).
It checks that each stream ended properly (gateway, engine: `thread.run.completed` then `done`; raw:
the `status_code: 0` frame, which is the run's completion or the chat's usage chunk; every token
delivered) and counts anything else as an error. `urls`, when given, holds one URL per stream (the
engine's runs, one thread each).

Around the load it reads the proxy's CPU and RSS, the upstream's CPU, and its own CPU (see
proc_stats.py). `trace_cpu` also records (tokens received, proxy CPU ns) after every read, which
is how the long-message scenario finds the proxy's CPU per window of frames.
"""

from __future__ import annotations

import asyncio
import re
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from tests.bench.proc_stats import cpu_ns, rss_kb, self_cpu_ns

TOKEN_RE = re.compile(rb"t(\d{10}\.\d{6})\|")
AI_FRAME = b'"role":"ai"'
FINAL_FRAME = b'"status_code":0'
DELTA = b"event: thread.message.delta\n"
DONE = b"event: done\n"


@dataclass
class LoadSpec:
    url: str
    body: bytes
    raw: bool  # the response is MiniMax frames relayed as is (direct, naive); else OpenAI events
    cumulative: bool
    concurrency: int
    streams_per_worker: int = 1
    ramp_s: float = 0.0  # the workers' first requests are spread evenly over this
    expect_tokens: int = 0  # message frames per stream (0: do not check)
    hold_s: float = 0.0  # > 0: hold mode: keep every stream open until all are open, then hold_s more
    hold_samples: int = 4  # RSS samples taken evenly over the hold
    proxy_pid: int | None = None
    upstream_pid: int | None = None
    trace_cpu: bool = False
    timeout_s: float = 600.0
    headers: dict[str, str] = field(
        default_factory=lambda: {"Authorization": "Bearer x", "Content-Type": "application/json"}
    )
    urls: tuple[str, ...] = ()  # one per stream, in the order streams start (else `url` for all)
    # Windowed mode (load_window.py, the `run_*` scenarios): every worker replaces its stream when it
    # ends; everything is measured over `window_s` seconds starting `ramp_s + lead_s` after the start.
    window_s: float = 0.0
    lead_s: float = 0.0
    metrics_urls: tuple[str, ...] = ()  # the engine's /metrics (each replica's), scraped at both ends
    # Replicas behind a load balancer (the `engine-pg*` targets): worker i sends to replicas[i % n]
    # instead of `url`; the other replicas' CPU (extra_pids) is added to proxy_pid's; the database
    # server's (db_pid: PostgreSQL's postmaster, with its children) is read apart.
    replicas: tuple[str, ...] = ()
    extra_pids: tuple[int, ...] = ()
    db_pid: int | None = None


@dataclass
class LoadResult:
    wall_s: float = 0.0
    streams_ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    events: int = 0
    tokens: int = 0
    ttfe_s: array[float] = field(default_factory=lambda: array("d"))
    latency_s: array[float] = field(default_factory=lambda: array("d"))
    proxy_cpu_ns: int = 0
    upstream_cpu_ns: int = 0
    client_cpu_ns: int = 0
    rss_base_kb: int = 0
    rss_peak_kb: int = 0
    open_peak: int = 0
    hold_rss_kb: list[int] = field(default_factory=list)  # samples over the hold (hold mode)
    opened: int = 0  # streams that got a first event
    open_s: float = 0.0  # hold mode: time until all streams were open
    trace: list[tuple[int, int]] = field(default_factory=list)  # (tokens so far, proxy cpu ns)
    # Windowed mode: the counts above cover the window only (wall_s is its length); see load_window.py.
    started: int = 0  # streams requested over the whole run (ramp and window)
    late_first: int = 0  # streams with no first event yet when the window closed (see load_window.py)
    rates: dict[str, float] = field(default_factory=dict)  # /s from /metrics: store tx by kind, gc_*
    db_cpu_ns: int = 0  # the database server's CPU over the window (LoadSpec.db_pid)
    proxy_system_ns: int = 0  # of proxy_cpu_ns, the kernel's part (stime; windowed mode)


class _Run:
    """Shared state of one load run."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.result = LoadResult()
        self.open_now = 0
        self.total = spec.concurrency * spec.streams_per_worker
        self.all_open = asyncio.Event()
        self.release = asyncio.Event()
        self.started = 0

    def next_url(self) -> str:
        urls = self.spec.urls
        if not urls:
            return self.spec.url
        self.started += 1
        if self.started > len(urls):
            raise RuntimeError(f"stream {self.started} has no URL ({len(urls)} prepared)")
        return urls[self.started - 1]


async def _stream(session: aiohttp.ClientSession, run: _Run) -> None:
    spec, res = run.spec, run.result
    raw, cumulative = spec.raw, spec.cumulative
    latency = res.latency_s
    trace = res.trace if spec.trace_cpu else None
    proxy = spec.proxy_pid
    finditer = TOKEN_RE.finditer
    started = time.perf_counter()
    first = True
    events = tokens = 0
    done = final = False
    last_name = b""
    opened = False
    response: aiohttp.ClientResponse | None = None
    try:
        response = await session.post(run.next_url(), data=spec.body, headers=spec.headers)
        if response.status != 200:
            res.errors[f"http_{response.status}"] += 1
            await response.read()
            return
        buf = bytearray()
        scan = 0
        async for chunk in response.content.iter_any():
            now = time.time()
            buf += chunk
            start = 0
            while (end := buf.find(b"\n\n", scan)) >= 0:
                block = bytes(buf[start:end])
                start = scan = end + 2
                if block[:1] == b":":
                    continue  # comment (keep-alive ping)
                events += 1
                if first:
                    first = False
                    res.ttfe_s.append(time.perf_counter() - started)
                    opened = True
                    res.opened += 1
                    run.open_now += 1
                    res.open_peak = max(res.open_peak, run.open_now)
                    if spec.hold_s and res.opened == run.total:
                        run.all_open.set()
                if raw:
                    if FINAL_FRAME in block:
                        final = True
                    elif cumulative:
                        if AI_FRAME in block:
                            pos = block.rfind(b'|"')
                            latency.append(now - float(block[pos - 17 : pos]))
                            tokens += 1
                    else:  # tokens are only in message frames / content chunks
                        for m in finditer(block):
                            latency.append(now - float(m.group(1)))
                            tokens += 1
                elif block.startswith(DELTA):
                    for m in finditer(block):
                        latency.append(now - float(m.group(1)))
                        tokens += 1
                elif block.startswith(DONE):
                    done = True
                else:
                    last_name = block[7 : block.find(b"\n")]
            if start:
                del buf[:start]
                scan -= start
            scan = max(scan, len(buf) - 1)
            if trace is not None and proxy is not None:
                trace.append((tokens, cpu_ns(proxy)))
        if spec.hold_s:
            res.errors["ended_while_held"] += 1
        elif raw and not final:
            res.errors["no_final_frame"] += 1
        elif not raw and not (done and last_name == b"thread.run.completed"):
            res.errors[f"bad_end:{last_name.decode(errors='replace')}:{done}"] += 1
        elif spec.expect_tokens and tokens != spec.expect_tokens:
            res.errors[f"tokens_{tokens}_of_{spec.expect_tokens}"] += 1
        else:
            res.streams_ok += 1
    except asyncio.CancelledError:
        if spec.hold_s and run.release.is_set() and opened:
            res.streams_ok += 1
        else:
            res.errors["cancelled"] += 1
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        res.errors[type(exc).__name__] += 1
    finally:
        if opened:
            run.open_now -= 1
        res.events += events
        res.tokens += tokens
        if response is not None:
            response.close()


async def _worker(session: aiohttp.ClientSession, run: _Run, delay: float) -> None:
    if delay:
        await asyncio.sleep(delay)
    for _ in range(run.spec.streams_per_worker):
        await _stream(session, run)


async def _sample_rss(run: _Run, every: float = 0.1) -> None:
    pid = run.spec.proxy_pid
    if pid is None:
        return
    res = run.result
    while True:
        res.rss_peak_kb = max(res.rss_peak_kb, rss_kb(pid))
        await asyncio.sleep(every)


async def run_load(spec: LoadSpec) -> LoadResult:
    run = _Run(spec)
    res = run.result
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=None, connect=60, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        proxy, upstream = spec.proxy_pid, spec.upstream_pid
        if proxy is not None:
            res.rss_base_kb = res.rss_peak_kb = rss_kb(proxy)
        cpu0 = (cpu_ns(proxy) if proxy else 0, cpu_ns(upstream) if upstream else 0, self_cpu_ns())
        sampler = asyncio.create_task(_sample_rss(run))
        t0 = time.perf_counter()
        step = spec.ramp_s / spec.concurrency if spec.concurrency else 0.0
        tasks = [asyncio.create_task(_worker(session, run, i * step)) for i in range(spec.concurrency)]
        deadline = t0 + spec.timeout_s
        if spec.hold_s:
            try:
                await asyncio.wait_for(run.all_open.wait(), spec.timeout_s)
            except TimeoutError:
                res.errors["not_all_open"] += spec.concurrency - res.opened
            res.open_s = time.perf_counter() - t0
            for i in range(spec.hold_samples):
                if proxy is not None:
                    res.hold_rss_kb.append(rss_kb(proxy))
                if i < spec.hold_samples - 1:
                    await asyncio.sleep(spec.hold_s / max(spec.hold_samples - 1, 1))
            run.release.set()
            for task in tasks:
                task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=max(deadline - time.perf_counter(), 1.0))
        for task in pending:
            task.cancel()
        if pending:
            res.errors["timeout"] += len(pending)
            await asyncio.wait(pending, timeout=10)
        res.wall_s = time.perf_counter() - t0
        res.proxy_cpu_ns = cpu_ns(proxy) - cpu0[0] if proxy else 0
        res.upstream_cpu_ns = cpu_ns(upstream) - cpu0[1] if upstream else 0
        res.client_cpu_ns = self_cpu_ns() - cpu0[2]
        sampler.cancel()
        if proxy is not None:
            res.rss_peak_kb = max(res.rss_peak_kb, rss_kb(proxy))
    return res
