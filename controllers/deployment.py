"""The Deployment controller: ReplicaSets per pod-template hash, rolling updates, Recreate,
rollback, pause, history clean-up, progress deadline and status.

reconcile(deployment key) reads the cache, takes one step (create the new
ReplicaSet, or scale one or more ReplicaSets), and writes the status; the
arithmetic is in :mod:`controllers.rollout`. Progress comes only from the
ReplicaSets' status (ready/available pods), so each step waits for the
previous one to show in the cache; writes carry the cached resourceVersion
and the leader fence.
"""

from __future__ import annotations

import logging
from datetime import datetime

from kubelite.api import errors, semantic
from kubelite.api.apps import Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec
from kubelite.api.core import LabelSelector, Pod
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import DEPLOYMENTS, REPLICASETS
from kubelite.api.rollout_annotations import after_rollback
from kubelite.informer import FuncHandler, object_key
from kubelite.reconcile import Result, TerminalError

from controllers import rollout
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.podutil import controller_ref_to, owner_reference
from controllers.replicaset_plan import selector_matches

log = logging.getLogger(__name__)


def revision_of(rs: ReplicaSet) -> int:
    return rollout.revision_number(rs.metadata.annotations) or 0


def _view(rs: ReplicaSet) -> rollout.RSView:
    created = rs.metadata.creation_timestamp
    return rollout.RSView(rs.name, rs.replicas, (rs.status.available_replicas or 0) if rs.status else 0,
                          revision_of(rs), created.timestamp() if created else 0.0)


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

    # -- reconcile ----------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        d: Deployment | None = self.informers.deployments.get(key)
        if d is None or d.metadata.deletion_timestamp is not None:
            return None
        if d.spec.selector is None or not (d.spec.selector.match_labels or d.spec.selector.match_expressions):
            raise TerminalError(f"deployment {key}: empty selector")
        try:
            max_surge, max_unavailable = d.max_surge_and_unavailable()
        except ValueError as exc:
            raise TerminalError(f"deployment {key}: {exc}") from exc
        if rollout.ROLLBACK_TO in (d.metadata.annotations or {}):
            await self._rollback_to_annotation(d)
            return None
        all_rs = await self._claim(d)
        new_rs = next((rs for rs in all_rs if rollout.same_template(rs.spec.template, d.spec.template)), None)
        old = [rs for rs in all_rs if rs is not new_rs]
        created = False
        if new_rs is None and not d.spec.paused:
            new_rs = await self._create_new_rs(d, old, max_surge)
            created = True
            all_rs = [*old, new_rs]
        elif new_rs is not None:
            new_rs = await self._sync_new_rs(d, new_rs, old, max_surge)
        if new_rs is not None:
            d = await self._sync_deployment_revision(d, new_rs)
        if not d.spec.paused and not created:
            if self._scaling_event(d, new_rs, old):
                await self._scale_proportionally(d, new_rs, old, max_surge)
            elif d.spec.effective_strategy_type == "Recreate":
                await self._recreate(d, new_rs, old)
            else:
                await self._rolling(d, new_rs, old, max_surge, max_unavailable)
        elif d.spec.paused and self._scaling_event(d, new_rs, old):
            await self._scale_proportionally(d, new_rs, old, max_surge)
        if not d.spec.paused:
            await self._cleanup(d, old)
        return await self._write_status(d, new_rs, old, max_unavailable, created)

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

    # -- the new ReplicaSet ---------------------------------------------------------

    async def _create_new_rs(self, d: Deployment, old: list[ReplicaSet], max_surge: int) -> ReplicaSet:
        collisions = d.status.collision_count if d.status else None
        pod_hash = rollout.template_hash(d.spec.template, collisions)
        template = d.spec.template.model_copy(deep=True) if d.spec.template else None
        assert template is not None
        template.metadata = template.metadata or ObjectMeta()
        template.metadata.labels = {**(template.metadata.labels or {}), rollout.HASH_LABEL: pod_hash}
        selector = d.spec.selector.model_copy(deep=True) if d.spec.selector else LabelSelector()
        selector.match_labels = {**(selector.match_labels or {}), rollout.HASH_LABEL: pod_hash}
        revision = max((revision_of(rs) for rs in old), default=0) + 1
        annotations = rollout.new_rs_annotations(d.metadata.annotations, None, revision, replicas=d.replicas,
                                                 max_surge=max_surge)
        if d.spec.effective_strategy_type == "Recreate":
            replicas = 0 if any(rs.replicas for rs in old) else d.replicas
        else:
            replicas = rollout.new_rs_replicas(d.replicas, max_surge, [_view(rs) for rs in old],
                                               rollout.RSView("new", 0))
        rs = ReplicaSet(
            metadata=ObjectMeta(
                name=f"{d.name}-{pod_hash}", namespace=d.namespace,
                labels=dict(template.metadata.labels),
                annotations=annotations,
                owner_references=[owner_reference(d)],
            ),
            spec=ReplicaSetSpec(replicas=replicas, selector=selector, template=template,
                                min_ready_seconds=d.spec.min_ready_seconds),
        )
        try:
            created = await self.store.create(REPLICASETS, rs, fence=self.fence)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            existing: ReplicaSet = await self.store.get(REPLICASETS, rs.name, d.namespace)
            ref = existing.metadata.controller_ref()
            if ref is not None and ref.uid == d.metadata.uid and rollout.same_template(
                    existing.spec.template, d.spec.template):
                return existing  # ours, not yet in the cache
            await self._bump_collision_count(d)
            raise
        self.recorder.record(d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {created.name} to {replicas}")
        return created

    async def _bump_collision_count(self, d: Deployment) -> None:
        def bump(current: Deployment) -> Deployment:
            current.status = current.status or DeploymentStatus()
            current.status.collision_count = (current.status.collision_count or 0) + 1
            return current
        await self.store.guaranteed_update(DEPLOYMENTS, d.name, d.namespace, bump, subresource="status",
                                           fence=self.fence)

    async def _sync_new_rs(self, d: Deployment, new_rs: ReplicaSet, old: list[ReplicaSet],
                           max_surge: int) -> ReplicaSet:
        """The new RS carries the highest revision (a template change back to an old one is a
        rollback: its earlier revision goes to revision-history), the Deployment's annotations and
        its minReadySeconds, as Kubernetes' getNewReplicaSet keeps them."""
        newest_old = max((revision_of(rs) for rs in old), default=0)
        current = revision_of(new_rs)
        annotations = rollout.new_rs_annotations(d.metadata.annotations, new_rs.metadata.annotations,
                                                 newest_old + 1, replicas=d.replicas, max_surge=max_surge)
        if annotations == (new_rs.metadata.annotations or {}) and (
                new_rs.spec.min_ready_seconds or 0) == (d.spec.min_ready_seconds or 0):
            return new_rs
        updated = new_rs.deep_copy()
        updated.metadata.annotations = annotations
        updated.spec.min_ready_seconds = d.spec.min_ready_seconds
        result = await self.store.update(REPLICASETS, updated, fence=self.fence)
        if current and revision_of(result) != current:
            self.recorder.record(d, "Normal", "DeploymentRollback",
                                 f"Rolled back deployment \"{d.name}\" to revision {current}")
        return result

    async def _sync_deployment_revision(self, d: Deployment, new_rs: ReplicaSet) -> Deployment:
        """The Deployment's ``deployment.kubernetes.io/revision`` is its new ReplicaSet's (SetDeploymentRevision);
        ``kubectl rollout status --revision`` and ``rollout history`` read it."""
        revision = (new_rs.metadata.annotations or {}).get(rollout.REVISION)
        if revision is None or (d.metadata.annotations or {}).get(rollout.REVISION) == revision:
            return d
        updated = d.deep_copy()
        updated.metadata.annotations = {**(updated.metadata.annotations or {}), rollout.REVISION: revision}
        result: Deployment = await self.store.update(DEPLOYMENTS, updated, fence=self.fence)
        return result

    async def _rollback_to_annotation(self, d: Deployment) -> None:
        """``deployment.kubernetes.io/rollback-to: N`` (0 = previous): copy that revision's template."""
        annotations = dict(d.metadata.annotations or {})
        wanted = annotations.pop(rollout.ROLLBACK_TO, "0")
        rss = sorted(self.informers.replicasets.by_index("controller", d.metadata.uid or ""), key=revision_of)
        current = next((rs for rs in rss if rollout.same_template(rs.spec.template, d.spec.template)), None)
        target: ReplicaSet | None = None
        try:
            number = int(wanted)
        except ValueError:
            number = -1
        if number == 0:
            older = [rs for rs in rss if current is None or revision_of(rs) < revision_of(current)]
            target = older[-1] if older else None
        else:
            target = next((rs for rs in rss if revision_of(rs) == number), None)
        updated = d.deep_copy()
        updated.metadata.annotations = annotations or None
        if target is None or target.spec.template is None:
            self.recorder.record(d, "Warning", "DeploymentRollbackRevisionNotFound",
                                 f"Unable to find the revision {wanted} to rollback to")
        elif rollout.same_template(target.spec.template, d.spec.template):
            self.recorder.record(d, "Warning", "DeploymentRollbackTemplateUnchanged",
                                 f'The rollback revision contains the same template as current deployment "{d.name}"')
        else:
            template = target.spec.template.model_copy(deep=True)
            if template.metadata and template.metadata.labels:
                template.metadata.labels = {k: v for k, v in template.metadata.labels.items()
                                            if k != rollout.HASH_LABEL} or None
            updated.spec.template = template
            # Kubernetes' SetDeploymentAnnotationsTo: the ReplicaSet's own annotations (change-cause...) come back
            updated.metadata.annotations = after_rollback(annotations, target.metadata.annotations) or None
            self.recorder.record(d, "Normal", "DeploymentRollback",
                                 f'Rolled back deployment "{d.name}" to revision {revision_of(target)}')
        await self.store.update(DEPLOYMENTS, updated, fence=self.fence)

    # -- scaling ----------------------------------------------------------------------

    async def _scale(self, d: Deployment, rs: ReplicaSet, replicas: int, *, max_surge: int | None = None) -> ReplicaSet:
        annotations = {**(rs.metadata.annotations or {}), rollout.DESIRED_REPLICAS: str(d.replicas)}
        if max_surge is not None:
            annotations[rollout.MAX_REPLICAS] = str(d.replicas + max_surge)
        if rs.replicas == replicas and annotations == (rs.metadata.annotations or {}):
            return rs
        updated = rs.deep_copy()
        updated.spec.replicas = replicas
        updated.metadata.annotations = annotations
        result = await self.store.update(REPLICASETS, updated, fence=self.fence)
        if rs.replicas != replicas:
            direction = "up" if replicas > rs.replicas else "down"
            self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                 f"Scaled {direction} replica set {rs.name} to {replicas}")
        return result

    def _scaling_event(self, d: Deployment, new_rs: ReplicaSet | None, old: list[ReplicaSet]) -> bool:
        """The Deployment's replicas changed since the active ReplicaSets were sized."""
        active = [rs for rs in [*old, *([new_rs] if new_rs else [])] if rs.replicas > 0]
        if not active:
            return False
        return any((rs.metadata.annotations or {}).get(rollout.DESIRED_REPLICAS) != str(d.replicas) for rs in active)

    async def _scale_proportionally(self, d: Deployment, new_rs: ReplicaSet | None, old: list[ReplicaSet],
                                    max_surge: int) -> None:
        everything = [*old, *([new_rs] if new_rs else [])]
        active = [rs for rs in everything if rs.replicas > 0]
        if len(active) == 1:
            # Kubernetes: a single active ReplicaSet simply takes the Deployment's size.
            await self._scale(d, active[0], d.replicas, max_surge=max_surge)
            return
        surge = max_surge if d.spec.effective_strategy_type == "RollingUpdate" else 0
        sizes = rollout.proportional_sizes(d.replicas, surge, [_view(rs) for rs in active],
                                           new_rs.name if new_rs else active[-1].name)
        for rs in active:
            await self._scale(d, rs, sizes.get(rs.name, rs.replicas), max_surge=max_surge)

    async def _rolling(self, d: Deployment, new_rs: ReplicaSet | None, old: list[ReplicaSet], max_surge: int,
                       max_unavailable: int) -> None:
        if new_rs is None:
            return
        changes = rollout.rolling_step(d.replicas, max_surge, max_unavailable, _view(new_rs),
                                       [_view(rs) for rs in old])
        if new_rs.name in changes:
            await self._scale(d, new_rs, changes[new_rs.name], max_surge=max_surge)
        for rs in old:
            if rs.name in changes:
                await self._scale(d, rs, changes[rs.name])

    async def _recreate(self, d: Deployment, new_rs: ReplicaSet | None, old: list[ReplicaSet]) -> None:
        for rs in old:
            if rs.replicas:
                await self._scale(d, rs, 0)
        if self._old_pods_running(old) or new_rs is None:
            return
        if new_rs.replicas != d.replicas:
            await self._scale(d, new_rs, d.replicas)

    def _old_pods_running(self, old: list[ReplicaSet]) -> bool:
        for rs in old:
            for pod in self.informers.pods.by_index("controller", rs.metadata.uid or ""):
                if not pod.is_terminated():
                    return True
        return False

    async def _cleanup(self, d: Deployment, old: list[ReplicaSet]) -> None:
        doomed = rollout.history_to_delete(
            [(rs.name, revision_of(rs), rs.replicas, (rs.status.replicas or 0) if rs.status else 0) for rs in old
             if not self.informers.pods.by_index("controller", rs.metadata.uid or "")],
            d.spec.effective_revision_history_limit,
        )
        for name in doomed:
            try:
                await self.store.delete(REPLICASETS, name, d.namespace, fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise

    # -- status --------------------------------------------------------------------

    async def _write_status(self, d: Deployment, new_rs: ReplicaSet | None, old: list[ReplicaSet],
                            max_unavailable: int, created: bool) -> Result | None:
        def triple(rs: ReplicaSet) -> tuple[int, int, int]:
            s = rs.status
            return ((s.replicas or 0), (s.ready_replicas or 0), (s.available_replicas or 0)) if s else (0, 0, 0)

        everything = [*old, *([new_rs] if new_rs else [])]
        counts = rollout.deployment_counts([triple(rs) for rs in everything], triple(new_rs) if new_rs else None)
        old_active = sum(triple(rs)[0] + rs.replicas for rs in old)
        now: datetime = self.ctx.clock()
        status = rollout.compute_status(d, counts, new_rs_name=new_rs.name if new_rs else None,
                                        old_active=old_active, now=now, max_unavailable=max_unavailable,
                                        created_new=created)
        previous = d.status.condition("Progressing") if d.status else None
        current = status.condition("Progressing")
        if (current is not None and current.reason == "ProgressDeadlineExceeded"
                and (previous is None or previous.reason != "ProgressDeadlineExceeded")):
            self.recorder.record(d, "Warning", "ProgressDeadlineExceeded", current.message or "")
        if d.status is None or _comparable(status) != _comparable(d.status):
            updated = d.deep_copy()
            updated.status = status
            try:
                await self.store.update(DEPLOYMENTS, updated, subresource="status", fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        wait = rollout.seconds_to_deadline(d, status, now)
        return Result(requeue_after=wait) if wait is not None else None


def _comparable(status: DeploymentStatus) -> dict[str, object]:
    """The status in its normal form (``readyReplicas: 0`` is no readyReplicas), without condition times."""
    doc = status.to_dict()
    for condition in doc.get("conditions", []):
        condition.pop("lastUpdateTime", None)
        condition.pop("lastTransitionTime", None)
    normal: dict[str, object] = semantic.normalize("Deployment", {"status": doc}).get("status", {})
    return normal
