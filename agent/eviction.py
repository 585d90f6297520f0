"""Node-pressure eviction for disk, as pure functions: thresholds, the pressure decision, the ranking.

Facts from the kubelet's eviction manager (``pkg/kubelet/eviction``):

- Hard thresholds come as ``--eviction-hard``, e.g. ``nodefs.available<10%,imagefs.available<15%``
  (the kubelet's defaults); a value is a percentage of the filesystem's capacity or a quantity.
- A threshold is met when the observed available bytes are below its quantity. Any met disk
  threshold makes the node report ``DiskPressure``; the condition stays for
  ``--eviction-pressure-transition-period`` after the last time one was met, so it does not flap.
- Pods are ranked for eviction (``rankDiskPressureFunc``): first pods whose disk usage exceeds
  their ``ephemeral-storage`` requests, then lower ``spec.priority`` first, then the larger usage
  above requests first. Pods without usage figures go first. One pod is evicted per check.
- The evicted pod gets phase ``Failed``, reason ``Evicted`` and the message built by
  :func:`eviction_message`; a condition ``DisruptionTarget`` (reason ``TerminationByKubelet``).

Nothing here does I/O: :mod:`agent.diskpressure` observes the disk and acts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kubelite.api import taints as taint_keys
from kubelite.api.core import Pod, PodCondition, PodStatus, Taint
from kubelite.api.quantity import format_bytes, to_bytes
from kubelite.node.evictionflags import Threshold

from agent.runtime.base import FsStats

RESOURCE = "ephemeral-storage"  # what a disk signal reclaims
REASON = "Evicted"
DISK_PRESSURE_TAINT = Taint(key=taint_keys.DISK_PRESSURE, effect="NoSchedule")
NODE_CONDITION_MESSAGE = "The node had condition: [DiskPressure]. "
DISRUPTION_REASON = "TerminationByKubelet"


@dataclass(frozen=True)
class ThresholdMet:
    threshold: Threshold
    quantity: int  # the threshold in bytes on this filesystem
    available: int  # bytes observed available


def thresholds_met(thresholds: Iterable[Threshold], observations: Mapping[str, FsStats]) -> list[ThresholdMet]:
    """The thresholds whose signal is observed below its value (kubelet ``thresholdsMet``)."""
    met = []
    for threshold in thresholds:
        stats = observations.get(threshold.signal)
        if stats is None:
            continue
        quantity = threshold.bytes_of(stats.capacity_bytes)
        if stats.available_bytes < quantity:
            met.append(ThresholdMet(threshold, quantity, stats.available_bytes))
    return met


def under_pressure(last_met_at: float | None, now: float, transition_period: float) -> bool:
    """DiskPressure holds while a threshold was met within the transition period."""
    return last_met_at is not None and now - last_met_at < transition_period


@dataclass(frozen=True)
class ContainerUsage:
    name: str
    usage_bytes: int  # writable layer + logs
    request_bytes: int = 0  # resources.requests["ephemeral-storage"]


@dataclass(frozen=True)
class PodUsage:
    key: str  # namespace/name
    priority: int = 0
    containers: tuple[ContainerUsage, ...] = ()
    measured: bool = True  # False: no usage figures for this pod (ranked first, like the kubelet)
    volumes_bytes: int = 0  # emptyDir volumes on the node's disk (the kubelet counts local volumes too)
    # the pod's request as a whole (sidecars and init containers' peak included); None: its containers' sum
    pod_request_bytes: int | None = None

    @property
    def usage_bytes(self) -> int:
        return sum(c.usage_bytes for c in self.containers) + self.volumes_bytes

    @property
    def request_bytes(self) -> int:
        if self.pod_request_bytes is not None:
            return self.pod_request_bytes
        return sum(c.request_bytes for c in self.containers)

    @property
    def exceeds_requests(self) -> bool:
        return self.usage_bytes > self.request_bytes


def rank_for_disk_eviction(pods: Sequence[PodUsage]) -> list[PodUsage]:
    """Eviction order, first = evicted first (kubelet ``rankDiskPressureFunc``); stable for ties."""
    return sorted(pods, key=lambda p: (
        p.measured,  # no stats: first
        not p.exceeds_requests,  # usage above requests: first
        p.priority,  # lower priority: first
        -(p.usage_bytes - p.request_bytes),  # larger consumption above requests: first
    ))


def eviction_message(met: ThresholdMet, pod: PodUsage) -> str:
    """The kubelet's message: the starved resource, the threshold, and each offending container."""
    message = (f"The node was low on resource: {RESOURCE}. "
               f"Threshold quantity: {format_bytes(met.quantity)}, available: {format_bytes(met.available)}. ")
    for container in pod.containers:
        if container.usage_bytes > container.request_bytes:
            message += (f"Container {container.name} was using {format_bytes(container.usage_bytes)}, request is "
                        f"{format_bytes(container.request_bytes)}, has larger consumption of {RESOURCE}. ")
    return message



def empty_dir_over_limit(pod: Pod, usage: Mapping[str, int]) -> str | None:
    """The kubelet's local-storage eviction of a pod whose disk emptyDir passed its ``sizeLimit``
    (``emptyDirLimitEviction``); ``usage``: bytes per volume name. None when every one is within."""
    for volume in pod.spec.volumes or []:
        source = volume.empty_dir
        if source is None or source.size_limit is None or (source.medium or "") == "Memory":
            continue  # a tmpfs is capped by its size; memory is not this signal
        if usage.get(volume.name, 0) > to_bytes(source.size_limit):
            return f'Usage of EmptyDir volume "{volume.name}" exceeds the limit "{source.size_limit}". '
    return None


def evicted_status(status: PodStatus, message: str, now: datetime) -> PodStatus:
    """``status`` (built from the killed containers) as the kubelet leaves an evicted pod."""
    conditions = [c for c in status.conditions or [] if c.type != "DisruptionTarget"]
    conditions.append(PodCondition(type="DisruptionTarget", status="True", last_transition_time=now,
                                   reason=DISRUPTION_REASON, message=message))
    return status.model_copy(update={"phase": "Failed", "reason": REASON, "message": message,
                                     "conditions": conditions})


def admission_refusal(pod: Pod) -> str | None:
    """Under DiskPressure the kubelet admits no new pod that does not tolerate the disk-pressure
    taint (its eviction manager's ``Admit``); returns the rejection message, or None to admit."""
    if any(t.tolerates(DISK_PRESSURE_TAINT) for t in pod.spec.tolerations or []):
        return None
    return NODE_CONDITION_MESSAGE


def rejected_status(status: PodStatus | None, message: str) -> PodStatus:
    """A pod the node refused to admit: Failed, reason Evicted (the kubelet's rejectPod)."""
    return (status or PodStatus()).model_copy(update={"phase": "Failed", "reason": REASON, "message": message})
