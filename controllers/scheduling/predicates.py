"""Filters: each takes (candidate pod, node info) and returns why the node cannot run the pod, or None.

Cheap checks come first; the first rejection is the node's reason, and the
reasons are what "0/3 nodes are available: ..." counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kubelite.api import nodeaffinity
from kubelite.api import taints as taint_keys
from kubelite.api.core import Pod, Taint

from controllers.scheduling.nodeinfo import Candidate, NodeInfo

Predicate = Callable[[Candidate, NodeInfo], str | None]
UNSCHEDULABLE_TAINT = Taint(key=taint_keys.UNSCHEDULABLE, effect="NoSchedule")


def node_unschedulable(candidate: Candidate, info: NodeInfo) -> str | None:
    if not info.unschedulable:
        return None
    if any(t.tolerates(UNSCHEDULABLE_TAINT) for t in candidate.pod.spec.tolerations or []):
        return None
    return "node(s) were unschedulable"


def node_selector(candidate: Candidate, info: NodeInfo) -> str | None:
    """``nodeSelector`` and required node affinity (NodeAffinity filter), e.g. a daemon pod's node pin."""
    spec = candidate.pod.spec
    if not nodeaffinity.matches(spec.node_selector, spec.affinity, info.name, info.labels):
        return "node(s) didn't match Pod's node affinity/selector"
    return None


def volume_node_affinity(candidate: Candidate, info: NodeInfo) -> str | None:
    """VolumeBinding: a claim bound to a node-local volume pins its pods to that volume's nodes."""
    for terms in candidate.volume_terms:
        if not any(nodeaffinity.term_matches(t, info.name, info.labels) for t in terms):
            return "node(s) had volume node affinity conflict"
    return None


def untolerated_taint(pod: Pod, taints: Iterable[Taint], effects: tuple[str, ...]) -> Taint | None:
    tolerations = pod.spec.tolerations or []
    for taint in taints:
        if taint.effect in effects and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


def taints_tolerated(candidate: Candidate, info: NodeInfo) -> str | None:
    if not info.hard_taints:
        return None
    taint = untolerated_taint(candidate.pod, info.hard_taints, ("NoSchedule", "NoExecute"))
    if taint is None:
        return None
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value or ''}}}"


def node_ready(candidate: Candidate, info: NodeInfo) -> str | None:
    if not info.ready:
        return "node(s) were not ready"
    if not info.lease_present:
        return "node(s) had no heartbeat lease"
    return None


def host_ports_free(candidate: Candidate, info: NodeInfo) -> str | None:
    for host_ip, protocol, port in candidate.cost.ports:
        for used_ip, used_protocol, used_port in info.used_ports:
            same_port = port == used_port and protocol == used_protocol
            if same_port and (host_ip == used_ip or "0.0.0.0" in (host_ip, used_ip)):
                return "node(s) didn't have free ports for the requested pod ports"
    return None


def resources_fit(candidate: Candidate, info: NodeInfo) -> str | None:
    if info.pod_count + 1 > info.allocatable_pods:
        return "Too many pods"
    wanted = candidate.cost.requests
    if wanted.cpu_millis and info.cpu_requested + wanted.cpu_millis > info.allocatable_cpu:
        return "Insufficient cpu"
    if wanted.memory_bytes and info.memory_requested + wanted.memory_bytes > info.allocatable_memory:
        return "Insufficient memory"
    return None


# Predicates that cannot reject a given pod, so need not run per node for it: a pod without a node
# selector matches every node's labels, one without host ports conflicts with none.
SKIPPABLE: dict[Predicate, Callable[[Candidate], bool]] = {
    node_selector: lambda c: not c.pod.spec.node_selector and nodeaffinity.required_terms(c.pod.spec.affinity) is None,
    host_ports_free: lambda c: not c.cost.ports,
    volume_node_affinity: lambda c: not c.volume_terms,
}

# Predicates that read only the node and pass on a NodeInfo.plain node whatever the pod: skipped there.
PASS_ON_PLAIN_NODES: frozenset[Predicate] = frozenset({node_unschedulable, taints_tolerated, node_ready})

DEFAULT_PREDICATES: tuple[Predicate, ...] = (
    node_unschedulable, node_selector, volume_node_affinity, taints_tolerated, node_ready, host_ports_free,
    resources_fit,
)

