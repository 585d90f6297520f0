"""Prometheus metrics of one gateway, in its own registry (no global state between tests)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubelite.gateway.requestinfo import RequestInfo

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

_REPORTED_VERBS = {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT",
                   "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # labelled children by (metric, label values): prometheus_client's ``labels`` validates and
        # locks on every call, four times per request on the hot path; a child, once made, never changes
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
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

        # kube-apiserver's own names and labels, which dashboards and alerts expect
        # (k8s.io/apiserver/pkg/endpoints/metrics): verb as it reports it, scope resource/namespace/cluster
        api_labels = ["verb", "group", "version", "resource", "subresource", "scope", "component"]
        self.apiserver_requests = Counter(
            "apiserver_request", "Counter of apiserver requests broken out for each verb, dry run value, group, "
            "version, resource, scope, component, and HTTP response code.", [*api_labels, "code"],
            registry=self.registry,
        )
        self.apiserver_latency = Histogram(
            "apiserver_request_duration_seconds", "Response latency distribution in seconds for each verb, dry run "
            "value, group, version, resource, subresource, scope and component.", api_labels, registry=self.registry,
            buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30,
                     45, 60),
        )

        # open watches as kube-apiserver reports them: per kind, and as long-running WATCH requests
        self.registered_watchers = Gauge(
            "apiserver_registered_watchers", "Number of currently registered watchers for a given resources",
            ["group", "version", "kind"], registry=self.registry,
        )
        self.longrunning = Gauge(
            "apiserver_longrunning_requests", "Gauge of all active long-running apiserver requests broken out by "
            "verb, group, version, resource, scope and component.", api_labels, registry=self.registry,
        )

    def watch_opened(self, info: RequestInfo, kind: str, delta: int = 1) -> None:
        """A watch stream started (``delta`` 1) or ended (-1)."""
        scope = "namespace" if info.namespace else "cluster"
        self.registered_watchers.labels(info.group, info.version, kind).inc(delta)
        self.longrunning.labels("WATCH", info.group, info.version, info.resource, info.subresource or "", scope,
                                "apiserver").inc(delta)

    def observe_api(self, info: RequestInfo, *, apply: bool, code: int, seconds: float) -> None:
        """One API request, as kube-apiserver counts it (CleanVerb: LIST, WATCH, APPLY, POST, PUT, ...)."""
        verb = _REPORTED_VERBS.get(info.verb, info.verb.upper())
        if apply and verb == "PATCH":
            verb = "APPLY"
        scope = "resource" if info.name else "namespace" if info.namespace else "cluster"
        labels = (verb, info.group, info.version, info.resource, info.subresource or "", scope, "apiserver")
        self._child(self.apiserver_requests, *labels, str(code)).inc()
        if verb != "WATCH":  # kube leaves long-running requests out of the latency histogram
            self._child(self.apiserver_latency, *labels).observe(seconds)

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        self._child(self.requests, verb, resource, str(code)).inc()
        self._child(self.latency, verb, resource).observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
