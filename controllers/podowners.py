"""Pod events → the key of the workload that controls the pod, with creation and deletion
expectations: the addPod / updatePod / deletePod handlers kube's ReplicaSet, DaemonSet and
StatefulSet controllers share (``pkg/controller/replicaset``, ``daemon``, ``statefulset``).

A pod with a controller reference of the kind is its owner's business (and an inactive pod is an
observed deletion); an orphan is offered to every workload of its namespace whose selector matches
it (adoption). One home for the three controllers' handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kubelite.api.core import Pod
from kubelite.api.meta import KubeObject
from kubelite.informer import FuncHandler, object_key

from controllers.expectations import Expectations
from controllers.podutil import controller_ref_to, is_active


def owner_key(obj: KubeObject, kind: str) -> str | None:
    """``namespace/name`` of ``obj``'s controller when it is a ``kind``, else None."""
    ref = controller_ref_to(obj, kind)
    return f"{obj.namespace}/{ref.name}" if ref is not None else None


class PodOwnerEvents:
    """``handler()`` for the pod informer of a controller of ``kind`` workloads.

    ``enqueue``: the controller's; ``matching(pod)``: keys of the workloads whose selector matches
    an orphan pod; ``expect_created_first``: a pod seen already inactive still counts as the
    creation the controller expected (the StatefulSet controller's bookkeeping) before its deletion;
    ``enqueue_update``: how an update that leaves the pod active, with the same owner and labels
    (its status or node moving on), enqueues its owner — the controller's coalescing enqueue, or
    ``enqueue`` itself.
    """

    def __init__(self, kind: str, expectations: Expectations, enqueue: Callable[[str], None],
                 matching: Callable[[Pod], Iterable[str]], *, expect_created_first: bool = False,
                 enqueue_update: Callable[[str], None] | None = None) -> None:
        self.kind = kind
        self.expectations = expectations
        self.enqueue = enqueue
        self.enqueue_update = enqueue_update or enqueue
        self.matching = matching
        self.expect_created_first = expect_created_first

    def handler(self) -> FuncHandler:
        return FuncHandler(add=self.added, update=self.updated, delete=self.deleted)

    def owner(self, obj: KubeObject) -> str | None:
        return owner_key(obj, self.kind)

    def added(self, pod: Pod) -> None:
        owner = self.owner(pod)
        if owner is None:
            self._adopters(pod)
            return
        key = object_key(pod)
        if is_active(pod) or self.expect_created_first:
            self.expectations.observed_create(owner, key)
        if not is_active(pod):
            self.expectations.observed_delete(owner, key)
        self.enqueue(owner)

    def updated(self, old: Pod, new: Pod) -> None:
        owner, old_owner = self.owner(new), self.owner(old)
        active = is_active(new)
        if owner is not None and not active:
            self.expectations.observed_delete(owner, object_key(new))
        if old_owner is not None and old_owner != owner:
            self.enqueue(old_owner)
        if owner is not None:
            if active and owner == old_owner and new.metadata.labels == old.metadata.labels:
                self.enqueue_update(owner)
            else:
                self.enqueue(owner)
        else:
            self._adopters(new)

    def deleted(self, pod: Pod) -> None:
        owner = self.owner(pod)
        if owner is not None:
            self.expectations.observed_delete(owner, object_key(pod))
            self.enqueue(owner)

    def _adopters(self, pod: Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            return
        for key in self.matching(pod):
            self.enqueue(key)
