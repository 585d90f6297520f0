"""The Deployment controller: ReplicaSets per pod-template hash, rolling updates, Recreate,
rollback, pause, history clean-up, progress deadline and status.

reconcile(deployment key) reads the cache (adopting orphaned ReplicaSets),
asks :func:`controllers.deployment_plan.plan` for one step (create the new
ReplicaSet, or scale one or more ReplicaSets, then the status) and executes
it; the decisions are in :mod:`controllers.deployment_plan`, the arithmetic in
:mod:`controllers.rollout`. Progress comes only from the
ReplicaSets' status (ready/available pods), so each step waits for the
previous one to show in the cache; writes carry the cached resourceVersion
and the leader fence.
"""

from __future__ import annotations

import logging

from kubelite.api import errors
from kubelite.api.apps import Deployment, DeploymentStatus, ReplicaSet
from kubelite.api.core import Pod
from kubelite.api.resources import DEPLOYMENTS, REPLICASETS
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result, TerminalError

from controllers import deployment_plan, rollout
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.podutil import controller_ref_to, owner_reference
from controllers.replicaset_plan import selector_matches

log = logging.getLogger(__name__)


class DeploymentController(Controller):
    name = "deployment"
    component = "deployment-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.deployment_workers

    def register(self) -> None:
        self.informers.deployments.add_handler(FuncHandler.enqueue_all(lambda d: self.enqueue(object_key(d))))
        self.informers.replicasets.add_handler(FuncHandler.enqueue_all(self._rs_changed))
        self.informers.pods.add_handler(FuncHandler(delete=self._pod_deleted))

    def initial_keys(self) -> list[str]:
        return self.informers.deployments.keys()

    def _rs_changed(self, rs: ReplicaSet) -> None:
        ref = controller_ref_to(rs, "Deployment")
        if ref is not None:
            self.enqueue(f"{rs.namespace}/{ref.name}")
            return
        if self.queue is None:
            return
        for d in self.informers.deployments.list(rs.namespace):
            if selector_matches(d.spec.selector, rs.metadata.labels):
                self.enqueue(object_key(d))

    def _pod_deleted(self, pod: Pod) -> None:
        """Recreate waits until old pods are gone, not just marked."""
        ref = controller_ref_to(pod, "ReplicaSet")
        if ref is None or self.queue is None:
            return
        rs = self.informers.replicasets.get(f"{pod.namespace}/{ref.name}")
        if rs is not None:
            self._rs_changed(rs)

    # -- reconcile: fetch, plan, execute -------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        d: Deployment | None = self.informers.deployments.get(key)
        if d is None or d.metadata.deletion_timestamp is not None:
            return None
        try:
            deployment_plan.fenceposts(d)
        except deployment_plan.InvalidDeployment as exc:
            raise TerminalError(f"deployment {key}: {exc}") from exc
        if rollout.ROLLBACK_TO in (d.metadata.annotations or {}):
            back = deployment_plan.rollback(d, self.informers.replicasets.by_index("controller", d.metadata.uid or ""))
            self._record(d, back.event)
            await self.store.update(DEPLOYMENTS, back.deployment, fence=self.fence)
            return None
        all_rs = await self._claim(d)
        pods = {rs.name: self.informers.pods.by_index("controller", rs.metadata.uid or "") for rs in all_rs}
        try:
            decided = deployment_plan.plan(d, all_rs, pods, self.ctx.clock())
        except deployment_plan.InvalidDeployment as exc:
            raise TerminalError(f"deployment {key}: {exc}") from exc
        return await self._execute(d, {rs.name: rs for rs in all_rs}, decided)

    async def _claim(self, d: Deployment) -> list[ReplicaSet]:
        rs_informer = self.informers.replicasets
        owned = [rs for rs in rs_informer.by_index("controller", d.metadata.uid or "")
                 if rs.metadata.deletion_timestamp is None]
        for rs in rs_informer.by_index("orphans", d.namespace or ""):
            if selector_matches(d.spec.selector, rs.metadata.labels) and rs.metadata.deletion_timestamp is None:
                adopted = rs.deep_copy()
                adopted.metadata.owner_references = [*(adopted.metadata.owner_references or []), owner_reference(d)]
                owned.append(await self.store.update(REPLICASETS, adopted, fence=self.fence))
        return owned

    def _record(self, d: Deployment, event: deployment_plan.Event | None) -> None:
        if event is not None:
            self.recorder.record(d, event.type, event.reason, event.message)

    async def _execute(self, d: Deployment, latest: dict[str, ReplicaSet], decided: deployment_plan.Plan) -> Result | None:
        """The plan's writes in order, each on the latest copy of its object (the cached
        resourceVersion, then what the previous write returned)."""
        for action in decided.actions:
            if isinstance(action, deployment_plan.CreateReplicaSet):
                latest[action.replicaset.name], fresh = await self._create_rs(d, action.replicaset)
                if fresh:
                    self._record(d, action.event)
            elif isinstance(action, deployment_plan.UpdateReplicaSet):
                updated = latest[action.name].deep_copy()
                if action.replicas is not None:
                    updated.spec.replicas = action.replicas
                updated.metadata.annotations = action.annotations
                updated.spec.min_ready_seconds = action.min_ready_seconds
                latest[action.name] = await self.store.update(REPLICASETS, updated, fence=self.fence)
                self._record(d, action.event)
            elif isinstance(action, deployment_plan.SetRevision):
                revised = d.deep_copy()
                revised.metadata.annotations = {**(revised.metadata.annotations or {}), rollout.REVISION: action.revision}
                d = await self.store.update(DEPLOYMENTS, revised, fence=self.fence)
            else:
                try:
                    await self.store.delete(REPLICASETS, action.name, d.namespace, fence=self.fence)
                except errors.ApiError as exc:
                    if exc.code != 404:
                        raise
        self._record(d, decided.status_event)
        if decided.status is not None:
            updated_d = d.deep_copy()
            updated_d.status = decided.status
            try:
                await self.store.update(DEPLOYMENTS, updated_d, subresource="status", fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        return Result(requeue_after=decided.requeue_after) if decided.requeue_after is not None else None

    async def _create_rs(self, d: Deployment, rs: ReplicaSet) -> tuple[ReplicaSet, bool]:
        """Create the new ReplicaSet → (it, whether this call created it). One of ours already there
        (not yet in the cache) is it; any other one is a hash collision: bump status.collisionCount
        (the next hash differs) and fail."""
        try:
            created = await self.store.create(REPLICASETS, rs, fence=self.fence)
            return created, True
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            existing = await self.store.get(REPLICASETS, rs.name, d.namespace)
            ref = existing.metadata.controller_ref()
            if ref is not None and ref.uid == d.metadata.uid and rollout.same_template(
                    existing.spec.template, d.spec.template):
                return existing, False
            await self._bump_collision_count(d)
            raise

    async def _bump_collision_count(self, d: Deployment) -> None:
        def bump(current: Deployment) -> Deployment:
            current.status = current.status or DeploymentStatus()
            current.status.collision_count = (current.status.collision_count or 0) + 1
            return current
        await self.store.guaranteed_update(DEPLOYMENTS, d.name, d.namespace, bump, subresource="status",
                                           fence=self.fence)
