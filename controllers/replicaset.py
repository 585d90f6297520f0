"""The ReplicaSet controller: keeps ``spec.replicas`` live pods matching the selector.

reconcile(rs key): claim pods (adopt matching orphans, release pods whose
labels no longer match), then — only when its expectations are satisfied,
i.e. the cache has caught up with this controller's own writes — create or
delete the difference, and write the status. Decisions come from
:mod:`controllers.replicaset_plan`.

The controller is parameterized by the kind it manages (:attr:`ReplicaSetController.resource`): the
ReplicationController controller (:mod:`controllers.replicationcontroller`) is this one, seeing each
ReplicationController through :meth:`ReplicaSetController.as_replicaset`, as kube's
``pkg/controller/replication`` runs the ReplicaSet controller through an adapter.
"""

from __future__ import annotations

import asyncio
import logging

from kubelite.api import errors, semantic
from kubelite.api.apps import ReplicaSet, ReplicaSetStatus
from typing import Any

from kubelite.api.core import Pod
from kubelite.api.meta import KubeObject, ObjectMeta
from kubelite.api.resources import PODS, REPLICASETS, Resource
from kubelite.client.informer import FuncHandler, Informer, object_key
from kubelite.client.reconcile import Result
from kubelite.storage.store import NotLeader
from kubelite.registry.strategy import is_namespace_terminating

from controllers import replicaset_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.expectations import Expectations
from controllers.podowners import PodOwnerEvents, owner_key
from controllers.podutil import is_active, owner_reference

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # at most this many creates or deletes per reconcile, as in Kubernetes


def pod_from_template(rs: ReplicaSet, owner: KubeObject | None = None) -> Pod:
    """A pod of ``rs``'s template, controlled by ``owner`` (``rs`` itself unless given)."""
    template = rs.spec.template
    meta = template.metadata if template and template.metadata else ObjectMeta()
    spec = template.spec.deep_copy() if template and template.spec else None
    pod = Pod(
        metadata=ObjectMeta(
            generate_name=f"{rs.name}-", namespace=rs.namespace,
            labels=dict(meta.labels) if meta.labels else None,
            annotations=dict(meta.annotations) if meta.annotations else None,
            owner_references=[owner_reference(owner if owner is not None else rs)],
        ),
    )
    if spec is not None:
        spec.node_name = None if not spec.node_name else spec.node_name
        pod.spec = spec
    return pod


class ReplicaSetController(Controller):
    """Keeps ``spec.replicas`` pods of a ReplicaSet, or of any kind :meth:`as_replicaset` can read as one.

    A subclass managing another kind sets :attr:`resource` (its kind names the controller references
    and events) and overrides :meth:`as_replicaset` and :meth:`with_status`.
    """

    name = "replicaset"
    component = "replicaset-controller"
    resource: Resource[Any] = REPLICASETS
    # A pod's status moving on (bound, Running, Ready) reaches the set's status at most this late; a
    # burst of a thousand such changes costs a few reconciles instead of one per change.
    coalesce_seconds = 0.2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.replicaset_workers
        self.expectations = Expectations(clock=ctx.monotonic)
        self.owners: Informer[Any] = ctx.informers.for_resource(self.resource)
        self.pod_events = PodOwnerEvents(self.resource.kind, self.expectations, self.enqueue, self._matching,
                                         enqueue_update=self.enqueue_coalesced)

    def as_replicaset(self, owner: Any) -> ReplicaSet:
        """The managed object as the ReplicaSet the plan reads (the object itself here)."""
        return owner  # type: ignore[no-any-return]  # a ReplicaSet informer holds ReplicaSets

    def with_status(self, owner: Any, status: ReplicaSetStatus) -> Any:
        """A copy of the managed object carrying ``status``, to write to its status subresource."""
        return owner.model_copy(update={"status": status})

    def _owner_key(self, pod: Pod) -> str | None:
        return owner_key(pod, self.resource.kind)

    def register(self) -> None:
        self.owners.add_handler(FuncHandler(
            add=lambda rs: self.enqueue(object_key(rs)), update=self._rs_updated,
            delete=lambda rs: self.enqueue(object_key(rs))))
        self.informers.pods.add_handler(self.pod_events.handler())

    def initial_keys(self) -> list[str]:
        return self.owners.keys()

    async def prepare(self) -> None:
        """A new term: count what the previous leader wrote that this cache has not seen yet."""
        self.expectations.clear()
        listed = await self.store.list(PODS)

        def owned(pods: list[Pod]) -> list[tuple[str, str, bool]]:
            return [(owner, object_key(p), is_active(p)) for p in pods if (owner := self._owner_key(p))]

        pending = self.expectations.seed_from_diff(owned(listed.items), owned(self.informers.pods.list()))
        if pending:
            log.info("%s: %d pod writes of the previous term not yet seen; waiting for them", self.name, pending)

    # -- handlers ---------------------------------------------------------------

    def _rs_updated(self, old: ReplicaSet, new: ReplicaSet) -> None:
        """A write of the status alone (this controller's own, mostly) is coalesced like the pod
        changes it reports; anything else (replicas, selector, template, deletion) acts at once."""
        if old is not new and old.metadata.generation == new.metadata.generation and \
                old.metadata.deletion_timestamp == new.metadata.deletion_timestamp and \
                old.metadata.labels == new.metadata.labels and \
                old.metadata.owner_references == new.metadata.owner_references:
            self.enqueue_coalesced(object_key(new))
        else:
            self.enqueue(object_key(new))

    def _matching(self, pod: Pod) -> list[str]:
        return [object_key(owner) for owner in self.owners.list(pod.namespace)
                if plan.selector_matches(self.as_replicaset(owner).spec.selector, pod.metadata.labels)]

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        owner = self.owners.get(key)
        if owner is None:
            self.expectations.forget(key)
            return None
        rs = self.as_replicaset(owner)
        pods = self.informers.pods
        candidates = pods.by_index("controller", rs.metadata.uid or "") + pods.by_index("orphans", rs.namespace or "")
        claims = plan.claim_pods(rs, candidates)
        owned = list(claims.owned)
        for pod in claims.adopt:
            adopted = await self._set_owner(pod, owner, adopt=True)
            if adopted is not None:
                owned.append(adopted)
        for pod in claims.release:
            await self._set_owner(pod, owner, adopt=False)
        active = [p for p in owned if is_active(p)]
        if rs.metadata.deletion_timestamp is None and self.expectations.satisfied(key):
            diff = plan.replica_diff(len(active), rs.replicas)
            if diff > 0:
                await self._create(rs, owner, key, min(diff, BURST_REPLICAS))
            elif diff < 0:
                await self._delete(owner, key, plan.pods_to_delete(active, min(-diff, BURST_REPLICAS)))
        status, wait = plan.rs_status(rs, owned, self.ctx.clock())
        if rs.status is None or not semantic.part_equal("ReplicaSet", "status", status.to_dict(), rs.status.to_dict()):
            await self._write_status(owner, status)
        return Result(requeue_after=wait) if wait is not None else None

    async def _write_status(self, owner: Any, status: ReplicaSetStatus) -> None:
        """Write the status computed from the pods; on a conflict (this cache behind the set's own last
        status write, mostly) once more on a fresh read, as kube's updateReplicaSetStatus
        (statusUpdateRetries = 1) — the status is the pods' count, not derived from the stored one."""
        read = owner
        for attempt in range(2):
            try:
                await self.store.update(self.resource, self.with_status(read, status), subresource="status",
                                        fence=self.fence, read=read)
                return
            except errors.ApiError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409 or isinstance(exc, NotLeader) or attempt:
                    raise
            try:
                read = await self.store.get(self.resource, owner.name, owner.namespace)
            except errors.ApiError as exc:
                if exc.code == 404:
                    return
                raise
            if read.metadata.uid != owner.metadata.uid:
                return  # replaced by a new set of that name: its own reconcile writes its status

    async def _create(self, rs: ReplicaSet, owner: KubeObject, key: str, count: int) -> None:
        template = pod_from_template(rs, owner)
        for batch in plan.slow_start_batches(count):
            results = await asyncio.gather(*(self._create_one(owner, key, template) for _ in range(batch)),
                                           return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            for failure in failures:
                if isinstance(failure, asyncio.CancelledError):
                    raise failure
            if failures and all(is_namespace_terminating(f) for f in failures):
                return  # every create will fail; the namespace controller deletes this ReplicaSet (as Kubernetes)
            if failures:
                if not isinstance(failures[0], NotLeader):  # a deposed leader reports nothing about the pods
                    self.recorder.record(owner, "Warning", "FailedCreate", f"Error creating: {failures[0]}")
                raise failures[0]

    async def _create_one(self, owner: KubeObject, key: str, template: Pod) -> None:
        created = await self.store.create(PODS, template, fence=self.fence)  # the store copies what it creates
        if int(created.metadata.resource_version or 0) > self.informers.pods.revision:
            self.expectations.expect_create(key, object_key(created))
        self.recorder.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {created.name}")

    async def _delete(self, owner: KubeObject, key: str, victims: list[Pod]) -> None:
        results = await asyncio.gather(*(self._delete_one(owner, key, pod) for pod in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _delete_one(self, owner: KubeObject, key: str, pod: Pod) -> None:
        pod_key = object_key(pod)
        try:
            await self.store.delete(PODS, pod.name, pod.namespace, uid=pod.metadata.uid, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        cached = self.informers.pods.get(pod_key)
        if cached is not None and is_active(cached):
            self.expectations.expect_delete(key, pod_key)
        self.recorder.record(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.name}")

    async def _set_owner(self, pod: Pod, owner: KubeObject, *, adopt: bool) -> Pod | None:
        """Adopt (add our controller reference) or release (remove it), with the pod's resourceVersion."""
        changed = pod.deep_copy()
        refs = [r for r in changed.metadata.owner_references or [] if r.uid != owner.metadata.uid]
        if adopt:
            refs.append(owner_reference(owner))
        changed.metadata.owner_references = refs or None
        try:
            return await self.store.update(PODS, changed, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise
