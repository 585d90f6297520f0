"""Pure decisions of the namespace controller: what to delete in a Terminating namespace, the
status conditions it reports, and when the ``kubernetes`` finalizer may go.

Kubernetes' ``namespacedResourcesDeleter`` (pkg/controller/namespace/deletion): delete every
object in the namespace (background propagation), count what is still there (graceful
pods, objects with finalizers), report it in the ``NamespaceContentRemaining`` /
``NamespaceFinalizersRemaining`` conditions, and finalize only when nothing is left.
Plain data in and out; the controller does the I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from kubelite.api.core import Namespace, NamespaceCondition
from kubelite.registry.strategy import NAMESPACE_FINALIZER

# Waiting only on graceful deletions and finalizers: look again after this at the latest
# (watch events on pods/replicasets/deployments usually come first).
MAX_RECHECK_SECONDS = 15.0
MIN_RECHECK_SECONDS = 0.2


@dataclass(frozen=True)
class Content:
    """One object found in the namespace."""

    resource: str  # GroupResource as Kubernetes prints it: "pods", "replicasets.apps"
    name: str
    uid: str
    deleting: bool  # already has a deletionTimestamp
    deletion_timestamp: datetime | None = None
    finalizers: tuple[str, ...] = ()
    graceful: bool = False  # a delete only marks it (a pod its agent must stop)


@dataclass(frozen=True)
class NamespacePlan:
    delete: tuple[Content, ...]
    conditions: tuple[NamespaceCondition, ...]
    finalize: bool  # remove the ``kubernetes`` finalizer (the namespace then goes)
    requeue_after: float | None


def owns(namespace: Namespace) -> bool:
    """A Terminating namespace still waiting for this controller's finalizer."""
    finalizers = namespace.spec.finalizers if namespace.spec else None
    return namespace.metadata.deletion_timestamp is not None and NAMESPACE_FINALIZER in (finalizers or [])


def plan_namespace(namespace: Namespace, contents: list[Content], now: datetime) -> NamespacePlan | None:
    """None when the namespace is not this controller's to empty (not deleting, or finalized)."""
    if not owns(namespace):
        return None
    to_delete = tuple(c for c in contents if not c.deleting)
    remaining = [c for c in contents if c.deleting or c.finalizers or c.graceful]
    conditions = tuple(_conditions(namespace, remaining, now))
    if not remaining:
        return NamespacePlan(to_delete, conditions, finalize=True, requeue_after=None)
    return NamespacePlan(to_delete, conditions, finalize=False, requeue_after=_recheck(remaining, now))


def _recheck(remaining: list[Content], now: datetime) -> float:
    waits = [(c.deletion_timestamp - now).total_seconds() for c in remaining if c.deletion_timestamp]
    soonest = min((w for w in waits if w > 0), default=MAX_RECHECK_SECONDS)
    return max(MIN_RECHECK_SECONDS, min(soonest, MAX_RECHECK_SECONDS))


def _conditions(namespace: Namespace, remaining: list[Content], now: datetime) -> list[NamespaceCondition]:
    counts = Counter(c.resource for c in remaining)
    finalizers = Counter(f for c in remaining for f in c.finalizers)
    if counts:
        listed = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(counts.items()))
        content = ("True", "SomeResourcesRemain", f"Some resources are remaining: {listed}")
    else:
        content = ("False", "ContentRemoved", "All content successfully removed")
    if finalizers:
        listed = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
        finalizing = ("True", "SomeFinalizersRemain",
                      f"Some content in the namespace has finalizers remaining: {listed}")
    else:
        finalizing = ("False", "ContentHasNoFinalizers", "All content-preserving finalizers finished")
    wanted = [
        ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered"),
        ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
         "All legacy kube types successfully parsed"),
        ("NamespaceDeletionContentFailure", "False", "ContentDeleted",
         "All content successfully deleted, may be waiting on finalization"),
        ("NamespaceContentRemaining", *content),
        ("NamespaceFinalizersRemaining", *finalizing),
    ]
    old = namespace.status
    result = []
    for type_, status, reason, message in wanted:
        previous = old.condition(type_) if old else None
        since = previous.last_transition_time if previous is not None and previous.status == status else now
        result.append(NamespaceCondition(type=type_, status=status, last_transition_time=since, reason=reason,
                                         message=message))
    return result
