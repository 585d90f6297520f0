"""What the metrics API (``metrics.k8s.io/v1beta1``, :mod:`kubelite.gateway.metrics_api`) serves, for
discovery and routing alike. Its kinds are read from the agents, never stored: not in the catalog."""

from __future__ import annotations

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
# (plural, kind, namespaced)
RESOURCES = (("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True))
VERBS = ("get", "list")
