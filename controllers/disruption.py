"""The disruption controller: each PodDisruptionBudget's status (kube-controller-manager's
``pkg/controller/disruption``). Keys are ``namespace/name`` of budgets; a pod's change queues the budgets
selecting it. The decisions are :mod:`controllers.disruption_plan`; the Eviction API
(``kubelite.gateway.subresources.evict``) spends what this controller allows.

The controllers whose scale a percentage or ``maxUnavailable`` is taken of are read from informers:
ReplicationControllers, Deployments (for their ReplicaSets' pods), ReplicaSets not owned by a Deployment,
and StatefulSets. kube also asks the scale subresource of any other owner; kubelite does not, so such a
budget fails its sync (``SyncFailed``: no disruption allowed), which errs on the safe side.

It also clears a pod's stale ``DisruptionTarget=True`` (set by an eviction whose delete then did not
happen) after :data:`kubelite.api.disruption.STALE_DISRUPTION_TIMEOUT`, as kube's controller does.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import disruption, errors
from kubelite.api.core import Pod, PodCondition
from kubelite.api.meta import OwnerReference
from kubelite.api.resources import (
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICATIONCONTROLLERS,
    STATEFULSETS,
    api_group,
)
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result

from controllers import disruption_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext

log = logging.getLogger(__name__)

# Keys of pods whose DisruptionTarget condition may go stale, beside the budgets' own keys in the queue
# (kube runs a second queue for them; one queue with a prefix keeps one loop and one back-off).
STALE_POD = "stale-disruption:"


class DisruptionController(Controller):
    name = "disruption"
    component = "controllermanager"  # kube's disruption controller records as this component

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.budgets = ctx.informers.for_resource(PODDISRUPTIONBUDGETS)
        self.statefulsets = ctx.informers.for_resource(STATEFULSETS)
        self.replicationcontrollers = ctx.informers.for_resource(REPLICATIONCONTROLLERS)

    def register(self) -> None:
        budget = FuncHandler(add=lambda pdb: self.enqueue(object_key(pdb)),
                             update=lambda _old, pdb: self.enqueue(object_key(pdb)))
        self.budgets.add_handler(budget)
        pods = FuncHandler(add=self._pod_changed, update=lambda _old, pod: self._pod_changed(pod),
                           delete=self._pod_deleted)
        self.informers.pods.add_handler(pods)

    def initial_keys(self) -> list[str]:
        now = self.ctx.clock()
        stale = [STALE_POD + object_key(pod) for pod in self.informers.pods.list()
                 if disruption.stale_disruption_wait(pod, now) is not None]
        return sorted(object_key(pdb) for pdb in self.budgets.list()) + stale

    def _pod_changed(self, pod: Pod) -> None:
        self._pod_deleted(pod)
        wait = disruption.stale_disruption_wait(pod, self.ctx.clock())
        if wait is not None:
            self.enqueue_after(STALE_POD + object_key(pod), wait)

    def _pod_deleted(self, pod: Pod) -> None:
        """Queue the budgets selecting ``pod`` (kube picks one of several; all are queued here)."""
        for pdb in self.budgets.by_index("namespace", pod.metadata.namespace or ""):
            if disruption.selects(pdb.to_dict(), pod):
                self.enqueue(object_key(pdb))

    async def _clear_stale_disruption(self, key: str) -> Result | None:
        """syncStalePodDisruption: a pod whose eviction set DisruptionTarget=True but was not deleted
        within STALE_DISRUPTION_TIMEOUT gets the condition back to False."""
        pod = self.informers.pods.get(key)
        if pod is None:
            return None
        wait = disruption.stale_disruption_wait(pod, self.ctx.clock())
        if wait is None:
            return None
        if wait > 0:
            return Result(requeue_after=wait)
        cleared = pod.deep_copy()
        assert cleared.status is not None  # stale_disruption_wait found the condition in it
        cleared.status.conditions = [
            PodCondition(type="DisruptionTarget", status="False", last_transition_time=self.ctx.clock())
            if c.type == "DisruptionTarget" else c for c in cleared.status.conditions or []]
        try:
            await self.store.update(PODS, cleared, subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        log.info("pod %s: stale DisruptionTarget condition set back to False", key)
        return None

    def _find_scale(self, ref: OwnerReference, namespace: str) -> tuple[str, int] | None:
        """The finders of kube's getExpectedScale: (controller uid, spec.replicas), or None."""
        group = api_group(ref.api_version)
        if ref.kind == "ReplicationController" and group == "":
            return self._scale_of(self.replicationcontrollers.get(f"{namespace}/{ref.name}"), ref)
        if ref.kind == "StatefulSet" and group == "apps":
            return self._scale_of(self.statefulsets.get(f"{namespace}/{ref.name}"), ref)
        if ref.kind == "ReplicaSet" and group in ("apps", "extensions"):
            rs = self.informers.replicasets.get(f"{namespace}/{ref.name}")
            if rs is None or rs.metadata.uid != ref.uid:
                return None
            owner = rs.metadata.controller_ref()
            if owner is not None and owner.kind == "Deployment" and api_group(owner.api_version) in ("apps", "extensions"):
                found = self._scale_of(self.informers.deployments.get(f"{namespace}/{owner.name}"), owner)
                if found is not None:
                    return found
            # kube's scale-subresource finder then reads the ReplicaSet's own scale
            return self._scale_of(rs, ref)
        return None

    @staticmethod
    def _scale_of(obj: Any, ref: OwnerReference) -> tuple[str, int] | None:
        if obj is None or obj.metadata.uid != ref.uid:
            return None
        replicas = (obj.to_dict().get("spec") or {}).get("replicas")
        return str(ref.uid), int(replicas if replicas is not None else 1)

    async def reconcile(self, key: str) -> Result | None:
        if key.startswith(STALE_POD):
            return await self._clear_stale_disruption(key.removeprefix(STALE_POD))
        pdb_obj = self.budgets.get(key)
        if pdb_obj is None:
            return None
        pdb = pdb_obj.to_dict()
        namespace = pdb_obj.metadata.namespace or ""
        pods = [pod for pod in self.informers.pods.by_index("namespace", namespace) if disruption.selects(pdb, pod)]
        if not pods:
            self.recorder.record(pdb_obj, "Normal", "NoPods", "No matching pods found")
        now = self.ctx.clock()
        try:
            counts = plan.expected_and_desired(pdb.get("spec") or {}, pods, self._find_scale)
        except plan.SyncFailed as exc:
            self.recorder.record(pdb_obj, "Warning", "CalculateExpectedPodCountFailed",
                                 f"Failed to calculate the number of expected pods: {exc}")
            # failSafe: no eviction is allowed while the budget cannot be computed; a pod's change retries
            await self._write(plan.failed_status(pdb, str(exc), now))
            return None
        if counts.unmanaged:
            self.recorder.record(pdb_obj, "Warning", "UnmanagedPods", (
                "Pods selected by this PodDisruptionBudget were found to be unmanaged. As a result, the status of "
                "the PDB cannot be calculated correctly, which may result in undefined behavior. To account for "
                'these pods please set ".spec.minAvailable" field of the PDB to an integer value.'))
        disrupted = plan.disrupted_pods(disruption.status_of(pdb).get("disruptedPods"), pods, now)
        for name in disrupted.not_deleted:
            pod = self.informers.pods.get(f"{namespace}/{name}")
            if pod is not None:
                self.recorder.record(pod, "Warning", "NotDeleted",
                                     f"Pod was expected by PDB {namespace}/{pdb_obj.name} to be deleted but it wasn't")
        healthy = plan.count_healthy(pods, disrupted.pods, now)
        updated = plan.new_status(pdb, healthy=healthy, counts=counts, disrupted=disrupted.pods, now=now)
        if updated is not None:
            await self._write(updated)
        after = plan.recheck_after(disrupted, now)
        return Result(requeue_after=after) if after is not None else None

    async def _write(self, doc: dict[str, Any]) -> None:
        try:
            await self.store.update(PODDISRUPTIONBUDGETS, PODDISRUPTIONBUDGETS.model.model_validate(doc),
                                    subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code == 404:  # deleted meanwhile: nothing to keep up to date
                return
            raise  # a conflict: the loop retries with the newer budget from the informer
