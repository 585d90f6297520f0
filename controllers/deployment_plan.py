"""Pure Deployment decisions as one plan: ``plan(deployment, replicasets, pods, now) -> Plan``.

After Kubernetes' deployment controller (pkg/controller/deployment: sync.go, rolling.go,
recreate.go, rollback.go, progress.go). The plan is a list of writes in the order
:class:`controllers.deployment.DeploymentController` executes them — create the new
ReplicaSet (pod-template-hash label, revision annotations) or bring its annotations up to
date, copy its revision onto the Deployment, scale (proportionally on a resize, Recreate, or
one rolling-update step within maxSurge/maxUnavailable), delete old ReplicaSets beyond
``revisionHistoryLimit`` — followed by the status to write, its event and when to look again.
The arithmetic is :mod:`controllers.rollout`; this module only sequences it. No I/O: the
cache's pods of each ReplicaSet come in as ``pods``.

``rollback(deployment, replicasets)`` is the deprecated ``deployment.kubernetes.io/rollback-to``
annotation: the Deployment to write and the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kubelite.api import semantic
from kubelite.api.apps import Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec
from kubelite.api.core import LabelSelector, Pod, PodTemplateSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.rollout_annotations import after_rollback, revision_number

from controllers import rollout
from controllers.podutil import owner_reference


class InvalidDeployment(ValueError):
    """A Deployment no plan can be made for (empty selector, bad maxSurge/maxUnavailable)."""


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class CreateReplicaSet:
    """Create ``replicaset``; on AlreadyExists the executor bumps status.collisionCount."""

    replicaset: ReplicaSet
    event: Event


@dataclass(frozen=True)
class UpdateReplicaSet:
    """Set spec.replicas (None: leave it), the annotations and spec.minReadySeconds of ReplicaSet ``name``."""

    name: str
    replicas: int | None
    annotations: dict[str, str]
    min_ready_seconds: int | None
    event: Event | None = None


@dataclass(frozen=True)
class SetRevision:
    """Copy the new ReplicaSet's revision onto the Deployment (SetDeploymentRevision)."""

    revision: str


@dataclass(frozen=True)
class DeleteReplicaSet:
    name: str


Action = CreateReplicaSet | UpdateReplicaSet | SetRevision | DeleteReplicaSet


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    status: DeploymentStatus | None = None  # None: the stored status is already this one
    status_event: Event | None = None  # recorded whether or not the status is written
    requeue_after: float | None = None  # seconds, to notice a progress deadline without events


@dataclass(frozen=True)
class Rollback:
    deployment: Deployment  # the Deployment to write (rollback-to annotation removed)
    event: Event


def revision_of(rs: ReplicaSet) -> int:
    return revision_number(rs.metadata.annotations) or 0


def view(rs: ReplicaSet) -> rollout.RSView:
    created = rs.metadata.creation_timestamp
    return rollout.RSView(rs.name, rs.replicas, (rs.status.available_replicas or 0) if rs.status else 0,
                          revision_of(rs), created.timestamp() if created else 0.0)


def fenceposts(d: Deployment) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers; raises :class:`InvalidDeployment`."""
    if d.spec.selector is None or not (d.spec.selector.match_labels or d.spec.selector.match_expressions):
        raise InvalidDeployment("empty selector")
    try:
        return d.max_surge_and_unavailable()
    except ValueError as exc:
        raise InvalidDeployment(str(exc)) from exc


class _Planner:
    """Walks reconcile's steps over in-memory copies, so each step sees the previous one's writes."""

    def __init__(self, d: Deployment, replicasets: Sequence[ReplicaSet], pods: Mapping[str, Sequence[Pod]],
                 now: datetime) -> None:
        self.d, self.pods, self.now = d, pods, now
        self.max_surge, self.max_unavailable = fenceposts(d)
        self.new_rs = next((rs for rs in replicasets if rollout.same_template(rs.spec.template, d.spec.template)),
                           None)
        self.old = [rs for rs in replicasets if rs is not self.new_rs]
        self.plan = Plan()

    def run(self) -> Plan:
        d = self.d
        created = False
        if self.new_rs is None and not d.spec.paused and not self._recreate_waits_for_old():
            self.new_rs = self._create_new_rs()
            created = True
        elif self.new_rs is not None:
            self.new_rs = self._sync_new_rs(self.new_rs)
        if self.new_rs is not None:
            self._sync_revision(self.new_rs)
        if not d.spec.paused and not created:
            if self._scaling_event():
                self._scale_proportionally()
            elif d.spec.effective_strategy_type == "Recreate":
                self._recreate()
            else:
                self._rolling()
        elif d.spec.paused and self._scaling_event():
            self._scale_proportionally()
        if not d.spec.paused:
            self._cleanup()
        self._status(created)
        return self.plan

    # -- the new ReplicaSet --------------------------------------------------------------

    def _create_new_rs(self) -> ReplicaSet:
        d = self.d
        collisions = d.status.collision_count if d.status else None
        pod_hash = rollout.template_hash(d.spec.template, collisions)
        if d.spec.template is None:
            raise InvalidDeployment("no pod template")
        template = d.spec.template.deep_copy()
        template.metadata = template.metadata or ObjectMeta()
        template.metadata.labels = {**(template.metadata.labels or {}), rollout.HASH_LABEL: pod_hash}
        selector = d.spec.selector.deep_copy() if d.spec.selector else LabelSelector()
        selector.match_labels = {**(selector.match_labels or {}), rollout.HASH_LABEL: pod_hash}
        revision = max((revision_of(rs) for rs in self.old), default=0) + 1
        annotations = rollout.new_rs_annotations(d.metadata.annotations, None, revision, replicas=d.replicas,
                                                 max_surge=self.max_surge)
        if d.spec.effective_strategy_type == "Recreate":
            replicas = d.replicas  # made only once the old ones are down (_recreate_waits_for_old)
        else:
            replicas = rollout.new_rs_replicas(d.replicas, self.max_surge, [view(rs) for rs in self.old],
                                               rollout.RSView("new", 0))
        rs = ReplicaSet(
            metadata=ObjectMeta(name=f"{d.name}-{pod_hash}", namespace=d.namespace,
                                labels=dict(template.metadata.labels), annotations=annotations,
                                owner_references=[owner_reference(d)]),
            spec=ReplicaSetSpec(replicas=replicas, selector=selector, template=template,
                                min_ready_seconds=d.spec.min_ready_seconds),
        )
        self.plan.actions.append(CreateReplicaSet(
            rs, Event("Normal", "ScalingReplicaSet", f"Scaled up replica set {rs.name} to {replicas}")))
        return rs

    def _sync_new_rs(self, new_rs: ReplicaSet) -> ReplicaSet:
        """The new RS carries the highest revision (a template change back to an old one is a
        rollback: its earlier revision goes to revision-history), the Deployment's annotations and
        its minReadySeconds, as Kubernetes' getNewReplicaSet keeps them."""
        d = self.d
        newest_old = max((revision_of(rs) for rs in self.old), default=0)
        current = revision_of(new_rs)
        annotations = rollout.new_rs_annotations(d.metadata.annotations, new_rs.metadata.annotations,
                                                 newest_old + 1, replicas=d.replicas, max_surge=self.max_surge)
        if annotations == (new_rs.metadata.annotations or {}) and (
                new_rs.spec.min_ready_seconds or 0) == (d.spec.min_ready_seconds or 0):
            return new_rs
        updated = new_rs.deep_copy()
        updated.metadata.annotations = annotations
        updated.spec.min_ready_seconds = d.spec.min_ready_seconds
        event = None
        if current and revision_of(updated) != current:
            event = Event("Normal", "DeploymentRollback", f"Rolled back deployment \"{d.name}\" to revision {current}")
        self.plan.actions.append(UpdateReplicaSet(updated.name, None, annotations,
                                                  updated.spec.min_ready_seconds, event))
        return updated

    def _sync_revision(self, new_rs: ReplicaSet) -> None:
        """The Deployment's ``deployment.kubernetes.io/revision`` is its new ReplicaSet's
        (SetDeploymentRevision); ``kubectl rollout status --revision`` and ``rollout history`` read it."""
        revision = (new_rs.metadata.annotations or {}).get(rollout.REVISION)
        if revision is None or (self.d.metadata.annotations or {}).get(rollout.REVISION) == revision:
            return
        self.plan.actions.append(SetRevision(revision))
        updated = self.d.deep_copy()
        updated.metadata.annotations = {**(updated.metadata.annotations or {}), rollout.REVISION: revision}
        self.d = updated

    # -- scaling -------------------------------------------------------------------------

    def _scale(self, rs: ReplicaSet, replicas: int, *, max_surge: int | None = None) -> None:
        d = self.d
        annotations = {**(rs.metadata.annotations or {}), rollout.DESIRED_REPLICAS: str(d.replicas)}
        if max_surge is not None:
            annotations[rollout.MAX_REPLICAS] = str(d.replicas + max_surge)
        if rs.replicas == replicas and annotations == (rs.metadata.annotations or {}):
            return
        event = None
        if rs.replicas != replicas:
            direction = "up" if replicas > rs.replicas else "down"
            event = Event("Normal", "ScalingReplicaSet", f"Scaled {direction} replica set {rs.name} to {replicas}")
        self.plan.actions.append(UpdateReplicaSet(rs.name, replicas, annotations, rs.spec.min_ready_seconds, event))

    def _active_all(self) -> list[ReplicaSet]:
        return [rs for rs in [*self.old, *([self.new_rs] if self.new_rs else [])] if rs.replicas > 0]

    def _scaling_event(self) -> bool:
        """The Deployment's replicas changed since the active ReplicaSets were sized."""
        return any((rs.metadata.annotations or {}).get(rollout.DESIRED_REPLICAS) != str(self.d.replicas)
                   for rs in self._active_all())

    def _scale_proportionally(self) -> None:
        d, active = self.d, self._active_all()
        if len(active) == 1:
            # Kubernetes: a single active ReplicaSet simply takes the Deployment's size.
            self._scale(active[0], d.replicas, max_surge=self.max_surge)
            return
        surge = self.max_surge if d.spec.effective_strategy_type == "RollingUpdate" else 0
        sizes = rollout.proportional_sizes(d.replicas, surge, [view(rs) for rs in active],
                                           self.new_rs.name if self.new_rs else active[-1].name)
        for rs in active:
            self._scale(rs, sizes.get(rs.name, rs.replicas), max_surge=self.max_surge)

    def _rolling(self) -> None:
        new_rs = self.new_rs
        if new_rs is None:
            return
        changes = rollout.rolling_step(self.d.replicas, self.max_surge, self.max_unavailable, view(new_rs),
                                       [view(rs) for rs in self.old])
        if new_rs.name in changes:
            self._scale(new_rs, changes[new_rs.name], max_surge=self.max_surge)
        for rs in self.old:
            if rs.name in changes:
                self._scale(rs, changes[rs.name])

    def _old_pods_running(self) -> bool:
        return any(not pod.is_terminated() for rs in self.old for pod in self.pods.get(rs.name, ()))

    def _recreate_waits_for_old(self) -> bool:
        """Recreate makes no new ReplicaSet while an old one is scaled up or has running pods
        (kube's rolloutRecreate asks for it with createIfNotExisted=false until then)."""
        return self.d.spec.effective_strategy_type == "Recreate" and (
            any(rs.replicas for rs in self.old) or self._old_pods_running())

    def _recreate(self) -> None:
        for rs in self.old:
            if rs.replicas:
                self._scale(rs, 0)
        if self._old_pods_running() or self.new_rs is None:
            return
        if self.new_rs.replicas != self.d.replicas:
            self._scale(self.new_rs, self.d.replicas)

    def _cleanup(self) -> None:
        doomed = rollout.history_to_delete(
            [(rs.name, revision_of(rs), rs.replicas, (rs.status.replicas or 0) if rs.status else 0)
             for rs in self.old if not self.pods.get(rs.name)],
            self.d.spec.effective_revision_history_limit,
        )
        self.plan.actions.extend(DeleteReplicaSet(name) for name in doomed)

    # -- status --------------------------------------------------------------------------

    def _status(self, created: bool) -> None:
        d, new_rs, old = self.d, self.new_rs, self.old

        def triple(rs: ReplicaSet) -> tuple[int, int, int]:
            s = rs.status
            return ((s.replicas or 0), (s.ready_replicas or 0), (s.available_replicas or 0)) if s else (0, 0, 0)

        everything = [*old, *([new_rs] if new_rs else [])]
        counts = rollout.deployment_counts([triple(rs) for rs in everything], triple(new_rs) if new_rs else None)
        old_active = sum(triple(rs)[0] + rs.replicas for rs in old)
        status = rollout.compute_status(d, counts, new_rs_name=new_rs.name if new_rs else None,
                                        old_active=old_active, now=self.now, max_unavailable=self.max_unavailable,
                                        created_new=created)
        previous = d.status.condition("Progressing") if d.status else None
        current = status.condition("Progressing")
        if (current is not None and current.reason == "ProgressDeadlineExceeded"
                and (previous is None or previous.reason != "ProgressDeadlineExceeded")):
            self.plan.status_event = Event("Warning", "ProgressDeadlineExceeded", current.message or "")
        if d.status is None or comparable(status) != comparable(d.status):
            self.plan.status = status
        self.plan.requeue_after = rollout.seconds_to_deadline(d, status, self.now)


def plan(d: Deployment, replicasets: Sequence[ReplicaSet], pods: Mapping[str, Sequence[Pod]],
         now: datetime) -> Plan:
    """One reconcile of Deployment ``d`` over the ReplicaSets it owns (claimed, not being deleted);
    ``pods``: each ReplicaSet's pods in the cache, by ReplicaSet name (Recreate waits for old pods to
    be gone, history clean-up spares ReplicaSets that still have pods). Raises :class:`InvalidDeployment`."""
    return _Planner(d, replicasets, pods, now).run()


def rollback(d: Deployment, replicasets: Sequence[ReplicaSet]) -> Rollback:
    """``deployment.kubernetes.io/rollback-to: N`` (0 = the revision before the current template's):
    the Deployment with that revision's template and annotations (SetDeploymentAnnotationsTo), the
    annotation removed; unknown or unchanged revisions only drop the annotation, with a warning."""
    annotations = dict(d.metadata.annotations or {})
    wanted = annotations.pop(rollout.ROLLBACK_TO, "0")
    rss = sorted(replicasets, key=revision_of)
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
        return Rollback(updated, Event("Warning", "DeploymentRollbackRevisionNotFound",
                                       f"Unable to find the revision {wanted} to rollback to"))
    if rollout.same_template(target.spec.template, d.spec.template):
        return Rollback(updated, Event(
            "Warning", "DeploymentRollbackTemplateUnchanged",
            f'The rollback revision contains the same template as current deployment "{d.name}"'))
    updated.spec.template = PodTemplateSpec.model_validate(semantic.without_hash_label(target.spec.template.to_dict()))
    # Kubernetes' SetDeploymentAnnotationsTo: the ReplicaSet's own annotations (change-cause...) come back
    updated.metadata.annotations = after_rollback(annotations, target.metadata.annotations) or None
    return Rollback(updated, Event("Normal", "DeploymentRollback",
                                   f'Rolled back deployment "{d.name}" to revision {revision_of(target)}'))


def comparable(status: DeploymentStatus) -> dict[str, object]:
    """The status in its normal form (``readyReplicas: 0`` is no readyReplicas), without condition times."""
    doc = status.to_dict()
    for condition in doc.get("conditions", []):
        condition.pop("lastUpdateTime", None)
        condition.pop("lastTransitionTime", None)
    normal: dict[str, object] = semantic.normalize("Deployment", {"status": doc}).get("status", {})
    return normal
