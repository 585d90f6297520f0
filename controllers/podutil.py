"""Small pure facts about pods shared by the controllers (active, ready, available, requests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kubelite.api.core import Pod
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
    cpu = memory = 0
    for container in pod.spec.containers:
        if container.resources is not None:
            cpu += container.resources.cpu_request_millis()
            memory += container.resources.memory_request_bytes()
    return Requests(cpu, memory)


def non_zero_requests(pod: Pod) -> Requests:
    """Requests for scoring: a container without a request counts the defaults."""
    cpu = memory = 0
    for container in pod.spec.containers:
        resources = container.resources
        c = resources.cpu_request_millis() if resources else 0
        m = resources.memory_request_bytes() if resources else 0
        cpu += c or DEFAULT_CPU_MILLIS
        memory += m or DEFAULT_MEMORY_BYTES
    return Requests(cpu, memory)


def host_ports(pod: Pod) -> set[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port that asks for a host port."""
    ports = set()
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.host_port:
                ports.add((port.host_ip or "0.0.0.0", port.effective_protocol, port.host_port))
    return ports
