"""Small pure facts about pods shared by the controllers (active, ready, available, requests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelite.api.core import Container, Pod
from kubelite.api.podresources import aggregate
from kubelite.api.meta import KubeObject, OwnerReference


def is_active(pod: Pod) -> bool:
    """Counts toward a ReplicaSet's replicas: not finished and not being deleted."""
    return not pod.is_terminated() and pod.metadata.deletion_timestamp is None


def ready_since(pod: Pod) -> datetime | None:
    """When the pod last became Ready, or None if it is not Ready."""
    condition = pod.status.condition("Ready") if pod.status else None
    if condition is None or condition.status != "True":
        return None
    return condition.last_transition_time or pod.metadata.creation_timestamp


def is_available(pod: Pod, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (Kubernetes' IsPodAvailable)."""
    since = ready_since(pod)
    if since is None:
        return False
    if min_ready_seconds <= 0:
        return True
    return since + timedelta(seconds=min_ready_seconds) <= now


def seconds_until_available(pod: Pod, min_ready_seconds: int, now: datetime) -> float | None:
    """For a Ready but not yet available pod: how long until it is; else None."""
    since = ready_since(pod)
    if since is None or min_ready_seconds <= 0:
        return None
    remaining = (since + timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return remaining if remaining > 0 else None


def controller_ref_to(obj: KubeObject, kind: str) -> OwnerReference | None:
    ref = obj.metadata.controller_ref()
    return ref if ref is not None and ref.kind == kind else None


def owner_reference(owner: KubeObject) -> OwnerReference:
    """The controller reference a controller puts on what it creates."""
    return OwnerReference(
        api_version=owner.api_version or "", kind=owner.kind or "", name=owner.name, uid=owner.metadata.uid or "",
        controller=True, block_owner_deletion=True,
    )


# Kubernetes' scheduler scores pods without requests as if they asked for this much,
# so that empty pods still spread (non-zero defaults of NodeResourcesFit scoring).
DEFAULT_CPU_MILLIS = 100
DEFAULT_MEMORY_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Requests:
    cpu_millis: int = 0
    memory_bytes: int = 0

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.cpu_millis + other.cpu_millis, self.memory_bytes + other.memory_bytes)


def pod_requests(pod: Pod) -> Requests:
    """What the pod asks of a node (PodRequests, the NodeResourcesFit filter's): its containers and
    sidecars add up, and it needs at least what any other init container needs
    (:func:`kubelite.api.podresources.aggregate`)."""
    return _requests(aggregate(pod, lambda container: _container_requests(container, non_missing=False)))


def non_zero_requests(pod: Pod) -> Requests:
    """Requests for scoring: a container that sets no cpu (memory) request counts 100m (200Mi)
    (NodeResourcesFit scoring's NonMissingContainerRequests), aggregated as :func:`pod_requests`."""
    return _requests(aggregate(pod, lambda container: _container_requests(container, non_missing=True)))


def _container_requests(container: Container, *, non_missing: bool) -> dict[str, int]:
    resources = container.resources
    cpu = resources.cpu_request_millis() if resources else 0
    memory = resources.memory_request_bytes() if resources else 0
    if non_missing:
        cpu = cpu if resources is not None and resources.has_request("cpu") else DEFAULT_CPU_MILLIS
        memory = memory if resources is not None and resources.has_request("memory") else DEFAULT_MEMORY_BYTES
    return {"cpu": cpu, "memory": memory}


def _requests(totals: dict[str, int]) -> Requests:
    return Requests(totals.get("cpu", 0), totals.get("memory", 0))


def host_ports(pod: Pod) -> set[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port that asks for a host port."""
    ports = set()
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.host_port:
                ports.add((port.host_ip or "0.0.0.0", port.effective_protocol, port.host_port))
    return ports
