"""What a pod as a whole requests and limits, from its containers: component-helpers' ``PodRequests`` /
``PodLimits`` (``k8s.io/component-helpers/resource``, Kubernetes 1.32), which kube-scheduler's fit filter
and the LimitRanger's ``Pod`` limits both read.

- the regular containers add up;
- sidecars (init containers with ``restartPolicy: Always``) add up with them, as they keep running;
- any other init container runs alone beside the sidecars started before it, so the pod needs at least
  that much (per resource, the larger of the two: ``maxResourceList``).

Pod overhead (RuntimeClass) and pod-level resources (an alpha feature, off) are not modelled. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

from kubelite.api import quantity
from kubelite.api.core import Container, Pod

N = TypeVar("N", int, Fraction)


def aggregate(pod: Pod, of: Callable[[Container], dict[str, N]]) -> dict[str, N]:
    """AggregateContainerRequests / AggregateContainerLimits over ``of(container)`` (per resource name)."""
    total: dict[str, N] = {}
    for container in pod.spec.containers:
        _add(total, of(container))
    sidecars: dict[str, N] = {}
    init_peak: dict[str, N] = {}
    for container in pod.spec.init_containers or []:
        needed = of(container)
        if container.restart_policy == "Always":
            _add(total, needed)
            _add(sidecars, needed)
            needed = dict(sidecars)
        else:
            needed = dict(needed)
            _add(needed, sidecars)
        _max(init_peak, needed)
    _max(total, init_peak)
    return total


def _add(into: dict[str, N], values: dict[str, N]) -> None:
    for name, value in values.items():
        into[name] = into[name] + value if name in into else value


def _max(into: dict[str, N], values: dict[str, N]) -> None:
    for name, value in values.items():
        if name not in into or value > into[name]:
            into[name] = value


def container_requests(container: Container) -> dict[str, Fraction]:
    """The container's ``resources.requests``, exact (a Pod's are already defaulted from its limits)."""
    resources = container.resources
    return {name: quantity.parse_quantity(value) for name, value in ((resources.requests or {}) if resources else {}).items()}


def container_limits(container: Container) -> dict[str, Fraction]:
    resources = container.resources
    return {name: quantity.parse_quantity(value) for name, value in ((resources.limits or {}) if resources else {}).items()}


def pod_requests(pod: Pod) -> dict[str, Fraction]:
    return aggregate(pod, container_requests)


def pod_limits(pod: Pod) -> dict[str, Fraction]:
    return aggregate(pod, container_limits)
