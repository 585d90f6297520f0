"""What the node says about its own health: the Ready condition's runtime check, DiskPressure.

:class:`NodeHealth` holds the current facts (runtime reachable? disk under pressure?) and wakes
the node heartbeat when one changes, so the Node shows it at once rather than at the next
period. The conditions are computed by pure functions:

- ``Ready``: ``False`` with reason ``ContainerRuntimeUnhealthy`` and the message
  ``container runtime is down: <why>`` while the engine cannot be reached (the kubelet's
  runtime health check; upstream reports it under ``KubeletNotReady`` with the message
  "container runtime is down").
- ``DiskPressure``: the kubelet's reasons ``KubeletHasDiskPressure`` / ``KubeletHasNoDiskPressure``.

The taint ``node.kubernetes.io/disk-pressure:NoSchedule`` that follows DiskPressure is not the
node's to write (NodeRestriction forbids a node changing its taints): the node lifecycle
controller adds and removes it from the condition (controllers/taints.py), as Kubernetes'
TaintNodesByCondition does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kubelite.api.core import NodeCondition

RUNTIME_UNHEALTHY = "ContainerRuntimeUnhealthy"


@dataclass(frozen=True)
class HealthFacts:
    runtime_error: str | None = None  # None: the runtime answers
    disk_pressure: bool = False


class NodeHealth:
    """Mutable holder of the facts; ``changed`` is set on every change (the heartbeat clears it)."""

    def __init__(self) -> None:
        self.facts = HealthFacts()
        self.changed = asyncio.Event()

    def set_runtime(self, error: str | None) -> None:
        if error != self.facts.runtime_error:
            self.facts = HealthFacts(runtime_error=error, disk_pressure=self.facts.disk_pressure)
            self.changed.set()

    def set_disk_pressure(self, value: bool) -> None:
        if value != self.facts.disk_pressure:
            self.facts = HealthFacts(runtime_error=self.facts.runtime_error, disk_pressure=value)
            self.changed.set()


def _condition(old: NodeCondition | None, type_: str, value: bool, now: datetime, reason: str,
               message: str) -> NodeCondition:
    status = "True" if value else "False"
    since = old.last_transition_time if old is not None and old.status == status else now
    return NodeCondition(type=type_, status=status, last_heartbeat_time=now, last_transition_time=since,
                         reason=reason, message=message)


def node_conditions(old: Sequence[NodeCondition], facts: HealthFacts, now: datetime) -> list[NodeCondition]:
    """The node's conditions after a heartbeat: Ready and DiskPressure from ``facts``, others kept."""
    by_type = {c.type: c for c in old}
    if facts.runtime_error is None:
        ready = _condition(by_type.get("Ready"), "Ready", True, now, "KubeletReady",
                           "kubelite agent is posting ready status")
    else:
        ready = _condition(by_type.get("Ready"), "Ready", False, now, RUNTIME_UNHEALTHY,
                           f"container runtime is down: {facts.runtime_error}")
    if facts.disk_pressure:
        disk = _condition(by_type.get("DiskPressure"), "DiskPressure", True, now, "KubeletHasDiskPressure",
                          "kubelet has disk pressure")
    else:
        disk = _condition(by_type.get("DiskPressure"), "DiskPressure", False, now, "KubeletHasNoDiskPressure",
                          "kubelet has no disk pressure")
    others = [c for c in old if c.type not in ("Ready", "DiskPressure")]
    return [*others, ready, disk]
