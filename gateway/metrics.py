"""Prometheus metrics of one app (own registry: no process-global state), served at /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gateway.heap import PAUSE_BUCKETS, Pauses

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gateway_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=r
        )
        self.open_streams = Gauge("gateway_open_streams", "Streams open now", registry=r)
        self.frames_in = Counter("gateway_upstream_frames", "MiniMax frames received in streams", registry=r)
        self.events_out = Counter("gateway_events", "OpenAI stream events sent", registry=r)
        self.first_event = Histogram(
            "gateway_time_to_first_event_seconds",
            "From request to the first stream bytes sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_latency_seconds",
            "MiniMax call latency (streams: to the first frame)",
            ["call"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "gateway_upstream_errors", "MiniMax errors by base_resp code or HTTP status", ["code"], registry=r
        )
        self.files_ingested = Counter(
            "gateway_files_ingested", "Vector-store files ingested, by how they ended", ["status"], registry=r
        )
        self.chunks_indexed = Counter("gateway_chunks_indexed", "Chunks written to vector stores", registry=r)
        self.search_latency = Histogram(
            "gateway_search_seconds",
            "Vector-store searches, in the gateway",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.search_rounds = Histogram(
            "gateway_file_search_round_seconds",
            "A run's file_search round in the gateway: from MiniMax's reply calling it to the next request",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.draining = Gauge("gateway_draining", "1 while the process drains for shutdown", registry=r)

    def count_store_transactions(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Serve `gateway_store_transactions_total{kind}` from the store's own counts."""
        self.registry.register(_StoreTransactions(counts))

    def count_gc_pauses(self, pauses: Pauses) -> None:
        """Serve `gateway_gc_pause_seconds{generation}` from the collector's timer (`gateway.heap`)."""
        self.registry.register(_GcPauses(pauses))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreTransactions(Collector):
    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "gateway_store_transactions", "Store transactions begun, by kind (write, read)", labels=["kind"]
        )
        for kind, n in self._counts().items():
            family.add_metric([kind], n)
        yield family


class _GcPauses(Collector):
    def __init__(self, pauses: Pauses) -> None:
        self._pauses = pauses

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "gateway_gc_pause_seconds",
            "The garbage collector's pauses (the event loop stopped), by generation",
            labels=["generation"],
        )
        bounds = [*(str(b) for b in PAUSE_BUCKETS), "+Inf"]
        for generation, (counts, seconds) in enumerate(
            zip(self._pauses.counts, self._pauses.seconds, strict=True)
        ):
            family.add_metric([str(generation)], list(zip(bounds, accumulate(counts), strict=True)), seconds)
        yield family
