"""The windowed load of the `run_*` scenarios: C clients, each replacing its stream the moment it ends,
measured over a fixed window once the ramp is over.

Worker i sends its first request at i * ramp_s / C, reads the stream to its end and sends the next
request at once, until the window closes. The window opens `ramp_s + lead_s` after the start (for
the engine, once the first scrape below has answered) and lasts `window_s`. At both edges this
process reads the proxy's, the upstream's and its own CPU clocks (in the same loop step that opens or
closes the window, so the CPU and the counts cover the same span) and, for the engine, scrapes
`/metrics` for `gateway_store_transactions_total{kind}`: the store's transactions per second are the
counters' difference over the time between the two scrapes (each timed at the midpoint of its
request).

Replicas (`spec.replicas`, the `engine-pg*` targets): worker i sends every request to replica i % n,
as a load balancer spreading connections would. The proxy's CPU is then the replicas' clocks summed,
read at the same edges; each replica's `/metrics` is scraped, and the rates summed. The database
server's CPU (`spec.db_pid`, PostgreSQL's postmaster and its children: proc_stats.tree_cpu_ns, in
ticks) is read at the same edges too, and kept apart.

Counted in the window only: SSE events and content chunks read (a chunk = one timestamp token, see
upstream.py), each chunk's latency (upstream write -> this client's read), and streams that ended
in it, checked as in load.py (raw chat: the usage chunk with `status_code: 0`; engine:
`thread.run.completed` then `done`; every token delivered). Errors count from the start to the end
of the window. Streams still open when it closes are cancelled, which is not an error; the next
process does not see them (every target's process is fresh per measurement, except with --quick).

Time to first event (request sent, connect included -> first complete SSE event) is taken for the
streams requested from the start (ramp included: at 5 chunks/s no stream that began in the ramp ends
before the window does) until TTFE_GRACE_S before the window closes. Such a stream that has no first
event when the window closes counts with the time it has waited so far (at least the grace: a lower
bound, and in the tail where it belongs) and is counted in `late_first`.
"""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp

from tests.bench.load import DELTA, DONE, FINAL_FRAME, TOKEN_RE, LoadResult, LoadSpec
from tests.bench.proc_stats import cpu_ns, self_cpu_ns, system_ns, tree_cpu_ns

TTFE_GRACE_S = 1.0
ERROR_PAUSE_S = 0.05  # a worker whose stream failed waits this long before the next (no busy loop)
TX_RE = re.compile(rb'^gateway_store_transactions_total\{kind="(\w+)"\} (\S+)$', re.MULTILINE)
GC_RE = re.compile(  # the collector's pauses: their sum, their count, and how many were within 10 ms
    rb'^gateway_gc_pause_seconds_(sum|count|bucket)\{generation="\d"(?:,le="0\.01")?\} (\S+)$', re.MULTILINE
)


class _Window:
    """Shared state of one windowed run."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.result = LoadResult()
        self.measuring = False  # inside the window: count events, tokens, latencies, completions
        self.closed = False  # the window has closed: start no stream, count no error
        self.ttfe_until = float("inf")  # streams requested after this (perf_counter) give no TTFE
        self.waiting: dict[int, float] = {}  # stream serial -> request time, until its first event
        self.serial = 0
        self.late_first = 0


async def _stream(session: aiohttp.ClientSession, w: _Window, url: str) -> None:
    spec, res = w.spec, w.result
    raw = spec.raw
    latency = res.latency_s
    finditer = TOKEN_RE.finditer
    w.serial += 1
    serial = w.serial
    res.started += 1
    sent = time.perf_counter()
    w.waiting[serial] = sent
    first = True
    events = tokens = total = 0  # events and tokens read in the window; all tokens of the stream
    done = final = False
    last_name = b""
    response: aiohttp.ClientResponse | None = None
    try:
        response = await session.post(url, data=spec.body, headers=spec.headers)
        if response.status != 200:
            if not w.closed:
                res.errors[f"http_{response.status}"] += 1
            await response.read()
            return
        buf = bytearray()
        scan = 0
        async for chunk in response.content.iter_any():
            measuring = w.measuring
            now = time.time()
            buf += chunk
            start = 0
            while (end := buf.find(b"\n\n", scan)) >= 0:
                block = bytes(buf[start:end])
                start = scan = end + 2
                if block[:1] == b":":
                    continue  # comment (keep-alive ping)
                if first:
                    first = False
                    del w.waiting[serial]
                    if sent <= w.ttfe_until:
                        res.ttfe_s.append(time.perf_counter() - sent)
                    res.opened += 1
                if measuring:
                    events += 1
                if raw:
                    if FINAL_FRAME in block:
                        final = True
                        continue
                elif block.startswith(DONE):
                    done = True
                    continue
                elif not block.startswith(DELTA):
                    last_name = block[7 : block.find(b"\n")]
                    continue
                for m in finditer(block):
                    total += 1
                    if measuring:
                        tokens += 1
                        latency.append(now - float(m.group(1)))
            if start:
                del buf[:start]
                scan -= start
            scan = max(scan, len(buf) - 1)
        if w.closed:
            return
        if raw and not final:
            res.errors["no_final_frame"] += 1
        elif not raw and not (done and last_name == b"thread.run.completed"):
            res.errors[f"bad_end:{last_name.decode(errors='replace')}:{done}"] += 1
        elif spec.expect_tokens and total != spec.expect_tokens:
            res.errors[f"tokens_{total}_of_{spec.expect_tokens}"] += 1
        elif w.measuring:
            res.streams_ok += 1
    except asyncio.CancelledError:
        if not w.closed:
            res.errors["cancelled"] += 1
        raise
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        if not w.closed:
            res.errors[type(exc).__name__] += 1
    finally:
        w.waiting.pop(serial, None)
        res.events += events
        res.tokens += tokens
        if response is not None:
            response.close()


async def _worker(session: aiohttp.ClientSession, w: _Window, delay: float, url: str) -> None:
    if delay:
        await asyncio.sleep(delay)
    while not w.closed:
        errors = sum(w.result.errors.values())
        await _stream(session, w, url)
        if sum(w.result.errors.values()) != errors:
            await asyncio.sleep(ERROR_PAUSE_S)


Scrape = tuple[float, dict[str, float]]


async def _scrape(session: aiohttp.ClientSession, url: str) -> Scrape:
    """(midpoint of the request, perf_counter; the store's transaction counters by kind, and the
    collector's pauses summed over the generations: `gc_sum` s, `gc_count`, `gc_short` (≤ 10 ms))."""
    asked = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
    counts = {k.decode(): float(v) for k, v in TX_RE.findall(body)}
    for series, value in GC_RE.findall(body):  # the only bucket matched is le="0.01"
        key = "gc_short" if series == b"bucket" else f"gc_{series.decode()}"
        counts[key] = counts.get(key, 0.0) + float(value)
    return (asked + time.perf_counter()) / 2, counts


async def _scrape_all(session: aiohttp.ClientSession, urls: tuple[str, ...]) -> list[Scrape]:
    return list(await asyncio.gather(*(_scrape(session, url) for url in urls)))


def _rates(before: list[Scrape], after: list[Scrape]) -> dict[str, float]:
    """Per second, by series (transactions by kind, the collector's `gc_*`), summed over the replicas
    (each over the time between its own scrapes)."""
    rates: dict[str, float] = {}
    for (t0, counts0), (t1, counts1) in zip(before, after, strict=True):
        for kind, count in counts1.items():
            rates[kind] = rates.get(kind, 0.0) + (count - counts0.get(kind, 0.0)) / (t1 - t0)
    return rates


def _clocks(spec: LoadSpec) -> tuple[int, int, int, int, int]:
    """CPU ns so far: the proxy (its replicas summed), the upstream, this process, the database server,
    and the proxy's system time (its replicas summed)."""
    proxy, upstream, db = spec.proxy_pid, spec.upstream_pid, spec.db_pid
    pids = (proxy, *spec.extra_pids) if proxy else ()
    proxies = sum(cpu_ns(pid) for pid in pids)
    kernel = sum(system_ns(pid) for pid in pids)
    return (proxies, cpu_ns(upstream) if upstream else 0, self_cpu_ns(), tree_cpu_ns(db) if db else 0, kernel)


async def run_window(spec: LoadSpec) -> LoadResult:
    w = _Window(spec)
    res = w.result
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=None, connect=60, sock_read=None)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session,
        aiohttp.ClientSession(headers=spec.headers) as scraper,
    ):
        t0 = time.perf_counter()
        grace = min(TTFE_GRACE_S, spec.window_s / 2)
        w.ttfe_until = t0 + spec.ramp_s + spec.lead_s + spec.window_s - grace
        step = spec.ramp_s / spec.concurrency if spec.concurrency else 0.0
        urls = spec.replicas or (spec.url,)
        tasks = [
            asyncio.create_task(_worker(session, w, i * step, urls[i % len(urls)]))
            for i in range(spec.concurrency)
        ]
        await asyncio.sleep(max(t0 + spec.ramp_s + spec.lead_s - time.perf_counter(), 0.0))
        scraped0 = await _scrape_all(scraper, spec.metrics_urls)
        cpu0 = _clocks(spec)  # no await from here to `measuring = True`
        w.measuring = True
        opened_at = time.perf_counter()
        w.ttfe_until = opened_at + spec.window_s - grace  # the scrape may have taken a while
        await asyncio.sleep(spec.window_s)
        cpu1 = _clocks(spec)  # no await from here to `closed = True`
        w.measuring = False
        w.closed = True
        closed_at = time.perf_counter()
        for sent in w.waiting.values():
            if sent <= w.ttfe_until:
                res.ttfe_s.append(closed_at - sent)
                w.late_first += 1
        w.ttfe_until = float("-inf")
        scraped1 = await _scrape_all(scraper, spec.metrics_urls)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=30)
    res.wall_s = closed_at - opened_at
    res.proxy_cpu_ns = cpu1[0] - cpu0[0]
    res.upstream_cpu_ns = cpu1[1] - cpu0[1]
    res.client_cpu_ns = cpu1[2] - cpu0[2]
    res.db_cpu_ns = cpu1[3] - cpu0[3]
    res.proxy_system_ns = cpu1[4] - cpu0[4]
    res.late_first = w.late_first
    res.rates = _rates(scraped0, scraped1)
    return res
