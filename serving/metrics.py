"""Prometheus metrics of one server process, kept as plain counters and rendered on scrape.

A request adds to two dict entries (its count by route, method and status; its latency
bucket by route): no lock and no label lookup on the request path. ``/metrics`` turns them
into the Prometheus text format through a custom collector of ``prometheus_client``. With
several uvicorn workers each process counts its own requests (sum over instances).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Request counts and latencies, plus gauges read when scraped.

    Parameters
    ----------
    gauges
        Called on each scrape; returns ``{name: (help, value, labels)}``.
    """

    def __init__(
        self, gauges: Callable[[], dict[str, tuple[str, float, dict[str, str]]]] | None = None
    ) -> None:
        self.requests: dict[tuple[str, str, int], float] = {}
        self.latency: dict[str, list[float]] = {}  # per route: bucket counts, then the sum
        self.gauges = gauges
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self.registry.register(ProcessCollector(registry=None))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request."""
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0.0) + 1.0
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0.0] * (len(BUCKETS) + 2)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily | GaugeMetricFamily]:
        requests = CounterMetricFamily(
            "vru_api_requests",
            "API requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), n in sorted(self.metrics.requests.items()):
            requests.add_metric([route, method, str(status)], n)
        yield requests
        latency = HistogramMetricFamily(
            "vru_api_request_duration_seconds",
            "Time from the request reaching the app to its response, by route template.",
            labels=["route"],
        )
        for route, counts in sorted(self.metrics.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, n in zip((*BUCKETS, float("inf")), counts[:-1], strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            latency.add_metric([route], buckets, counts[-1])
        yield latency
        if self.metrics.gauges is not None:
            for name, (text, value, labels) in sorted(self.metrics.gauges().items()):
                gauge = GaugeMetricFamily(name, text, labels=sorted(labels))
                gauge.add_metric([labels[k] for k in sorted(labels)], value)
                yield gauge
