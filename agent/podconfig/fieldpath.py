"""The downward API: a pod's own fields and its containers' resources as text (pure).

Kubernetes sources: ``pkg/fieldpath/fieldpath.go`` (``ExtractFieldPathAsString``, ``FormatMap``),
``pkg/api/v1/resource/helpers.go`` (``ExtractContainerResourceValue``: ceil(value / divisor)),
``pkg/kubelet/kubelet_pods.go`` (``podFieldSelectorRuntimeValue``: status.* and spec.* for env),
and ``MergeContainerResourceLimits`` (a missing limit is the node's allocatable).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from kubelite.api.core import Container, Pod
from kubelite.api.podconfig import ObjectFieldSelector, ResourceFieldSelector
from kubelite.api.quantity import parse_quantity


class FieldPathError(ValueError):
    """The field path or resource cannot be resolved (the message is the kubelet's)."""


@dataclass(frozen=True)
class PodRuntimeFacts:
    """What only the node knows when a container starts."""

    pod_ip: str = ""
    host_ip: str = ""
    allocatable_cpu_millis: int = 0
    allocatable_memory_bytes: int = 0


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def format_map(values: dict[str, str] | None) -> str:
    """``key="value"`` lines in key order, no trailing newline (Go's %q ≈ JSON string for text)."""
    return "\n".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted((values or {}).items()))


def field_value(pod: Pod, selector: ObjectFieldSelector, facts: PodRuntimeFacts) -> str:
    """The value of ``fieldRef.fieldPath`` for ``pod`` (env and downwardAPI volumes)."""
    path = selector.field_path
    meta = pod.metadata
    match = _SUBSCRIPT.match(path)
    if match:
        source = meta.labels if match.group(1) == "labels" else meta.annotations
        return (source or {}).get(match.group(2), "")
    simple = {
        "metadata.name": meta.name or "", "metadata.namespace": pod.namespace or "default",
        "metadata.uid": meta.uid or "",
        "spec.nodeName": pod.spec.node_name or "",
        "spec.serviceAccountName": pod.spec.service_account_name or "default",
        "status.podIP": facts.pod_ip, "status.podIPs": facts.pod_ip,
        "status.hostIP": facts.host_ip, "status.hostIPs": facts.host_ip,
    }
    if path in simple:
        return simple[path]
    if path == "metadata.labels":
        return format_map(meta.labels)
    if path == "metadata.annotations":
        return format_map(meta.annotations)
    raise FieldPathError(f"unsupported fieldPath: {path}")


def resource_value(pod: Pod, container: Container | None, selector: ResourceFieldSelector,
                   facts: PodRuntimeFacts) -> str:
    """``resourceFieldRef``: ceil(value / divisor) as text; a missing limit is the node's allocatable."""
    target = container
    if selector.container_name:
        target = next((c for c in [*pod.spec.containers, *(pod.spec.init_containers or [])]
                       if c.name == selector.container_name), None)
    if target is None:
        raise FieldPathError(f"container {selector.container_name!r} not found in pod {pod.namespace}/{pod.name}")
    kind, _, name = selector.resource.partition(".")
    resources = target.resources
    limits = dict(resources.limits or {}) if resources else {}
    requests = dict(resources.requests or {}) if resources else {}
    divisor = parse_quantity(selector.divisor) if selector.divisor not in (None, "", 0, "0") else Fraction(1)
    if divisor == 0:
        divisor = Fraction(1)
    if name == "cpu":
        allocatable = Fraction(facts.allocatable_cpu_millis, 1000)
    elif name in ("memory", "ephemeral-storage"):
        allocatable = Fraction(facts.allocatable_memory_bytes) if name == "memory" else Fraction(0)
    else:
        raise FieldPathError(f"unsupported container resource : {selector.resource}")
    if kind == "limits":
        value = parse_quantity(limits[name]) if name in limits else allocatable
    elif kind == "requests":
        value = parse_quantity(requests.get(name, limits.get(name, 0)))
    else:
        raise FieldPathError(f"unsupported container resource : {selector.resource}")
    if name == "cpu":  # MilliValue / MilliValue, then ceil
        return str(math.ceil(math.ceil(value * 1000) / math.ceil(divisor * 1000)))
    return str(math.ceil(math.ceil(value) / math.ceil(divisor)))
