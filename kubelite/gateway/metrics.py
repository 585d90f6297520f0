"""Prometheus metrics of one gateway, in its own registry (no global state between tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kubelite_gateway_requests", "API requests by verb, resource and HTTP code.",
            ["verb", "resource", "code"], registry=self.registry,
        )
        self.latency = Histogram(
            "kubelite_gateway_request_duration_seconds", "API request latency (watches: until the stream starts).",
            ["verb", "resource"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.open_watches = Gauge(
            "kubelite_gateway_watches", "Watch streams open now.", ["resource"], registry=self.registry,
        )
        self.watches = Counter(
            "kubelite_gateway_watches_started", "Watch streams started.", ["resource"], registry=self.registry,
        )
        self.watch_events = Counter(
            "kubelite_gateway_watch_events", "Events sent on watch streams.", ["resource", "type"],
            registry=self.registry,
        )

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        self.requests.labels(verb, resource, str(code)).inc()
        self.latency.labels(verb, resource).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
