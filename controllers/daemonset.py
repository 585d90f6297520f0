"""The DaemonSet controller: one pod per eligible node, rolling updates, revision history, status.

reconcile(ds key): make sure a ControllerRevision holds the current template
(its hash is the pods' ``controller-revision-hash``), claim pods, and — when the
expectations say the cache has caught up with this controller's own writes —
create and delete what :func:`controllers.daemonset_plan.plan` decides; then
drop revisions past ``revisionHistoryLimit`` and write the status. Pods are
created unbound, pinned to their node by node affinity; the scheduler binds
them. Nodes appearing, changing labels or taints, or going re-queue every
DaemonSet.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubelite.api import errors, semantic
from kubelite.api.core import Node, Pod
from kubelite.api.meta import KubeObject
from kubelite.api.resources import CONTROLLERREVISIONS, DAEMONSETS, PODS
from kubelite.api.workloads import REVISION_HASH_LABEL, DaemonSet, document, view
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result, TerminalError

from controllers import daemonset_plan, history
from controllers.backoff import Backoff
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.expectations import Expectations
from controllers.podowners import PodOwnerEvents, owner_key
from controllers.podutil import is_active, owner_reference
from controllers.replicaset_plan import claim, selector_matches, slow_start_batches
from controllers.revisions import RevisionStore

log = logging.getLogger(__name__)

BURST_REPLICAS = 250  # the daemon controller's BurstReplicas: creates or deletes per sync


def _owner_key(obj: KubeObject) -> str | None:
    return owner_key(obj, "DaemonSet")


def _node_view(node: Node) -> Any:
    """What decides where daemon pods run: labels, taints, name."""
    return (node.metadata.labels, [t.to_dict() for t in node.taints])


class DaemonSetController(Controller):
    name = "daemonset"
    component = "daemonset-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.daemonset_workers
        self.expectations = Expectations(clock=ctx.monotonic)
        self.pod_events = PodOwnerEvents("DaemonSet", self.expectations, self.enqueue, self._matching)
        self.failed_pods_backoff = Backoff(clock=ctx.monotonic)  # per "<ds uid>/<node>"
        self.daemonsets = ctx.informers.for_resource(DAEMONSETS)
        self.controllerrevisions = ctx.informers.for_resource(CONTROLLERREVISIONS)
        self.revisions = RevisionStore(self, DAEMONSETS, self.controllerrevisions)

    def register(self) -> None:
        self.daemonsets.add_handler(FuncHandler.enqueue_all(lambda ds: self.enqueue(object_key(ds))))
        self.informers.pods.add_handler(self.pod_events.handler())
        self.informers.nodes.add_handler(FuncHandler(
            add=lambda _node: self._enqueue_all(),
            update=lambda old, new: self._enqueue_all() if _node_view(old) != _node_view(new) else None,
            delete=lambda _node: self._enqueue_all()))
        self.controllerrevisions.add_handler(FuncHandler.enqueue_all(
            lambda cr: self.enqueue(_owner_key(cr))))

    def initial_keys(self) -> list[str]:
        return self.daemonsets.keys()

    async def prepare(self) -> None:
        """A new term: count the previous leader's pod writes this cache has not seen yet (as the
        ReplicaSet controller does), so no node gets a second pod after a failover."""
        self.expectations.clear()
        listed = await self.store.list(PODS)

        def owned(pods: list[Pod]) -> list[tuple[str, str, bool]]:
            return [(owner, object_key(p), is_active(p)) for p in pods if (owner := _owner_key(p))]

        pending = self.expectations.seed_from_diff(owned(listed.items), owned(self.informers.pods.list()))
        if pending:
            log.info("daemonset: %d pod writes of the previous term not yet seen; waiting for them", pending)

    # -- handlers ---------------------------------------------------------------

    def _enqueue_all(self) -> None:
        for key in self.daemonsets.keys():
            self.enqueue(key)

    def _matching(self, pod: Pod) -> list[str]:
        return [object_key(doc) for doc in self.daemonsets.list(pod.namespace)
                if selector_matches(view(DaemonSet, doc).spec.selector, pod.metadata.labels)]

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        doc = self.daemonsets.get(key)
        if doc is None:
            self.expectations.forget(key)
            return None
        ds = view(DaemonSet, doc)
        if ds.metadata.deletion_timestamp is not None:
            return None  # the garbage collector removes its pods and revisions
        selector = ds.spec.selector
        if selector is None or not (selector.match_labels or selector.match_expressions):
            raise TerminalError(f"daemonset {key}: empty selector")
        template = (doc.to_dict().get("spec") or {}).get("template") or {}
        current, revisions = await self.revisions.current(doc, template, ds.status.collision_count if ds.status else None)
        template_hash = (current.metadata.labels or {}).get(REVISION_HASH_LABEL) or current.name.rsplit("-", 1)[-1]
        pods = await self._claim(doc, ds)
        nodes: list[Node] = self.informers.nodes.list()
        uid = ds.metadata.uid or ""
        held = {n.name: wait for n in nodes if (wait := self.failed_pods_backoff.remaining(f"{uid}/{n.name}")) > 0}
        decided = daemonset_plan.plan(ds, nodes, pods, template_hash, self.ctx.clock(), held)
        if self.expectations.satisfied(key):
            self.failed_pods_backoff.gc()
            for node_name in decided.failed_nodes:
                self.failed_pods_backoff.next(f"{uid}/{node_name}")
                self.recorder.record(doc, "Warning", "FailedDaemonPod",
                                     f"Found failed daemon pod on node {node_name}, will try to kill it")
            by_name = {p.name: p for p in pods}
            await self._delete(doc, key, [by_name[n] for n in decided.delete[:BURST_REPLICAS] if n in by_name])
            await self._create(doc, ds, key, decided.create[:BURST_REPLICAS], template_hash)
        live = {current.name} | {history.revision_name(ds.name, h) for p in pods
                                 if (h := (p.metadata.labels or {}).get(REVISION_HASH_LABEL))}
        await self.revisions.cleanup(doc, revisions, live, ds.spec.revision_history_limit)
        await self._write_status(doc, ds, decided.status.to_dict())
        return Result(requeue_after=decided.requeue_after) if decided.requeue_after is not None else None

    async def _claim(self, doc: KubeObject, ds: DaemonSet) -> list[Pod]:
        pods = self.informers.pods
        candidates = pods.by_index("controller", ds.metadata.uid or "") + pods.by_index("orphans", ds.namespace or "")
        claims = claim(ds.metadata.uid, ds.spec.selector, ds.metadata.deletion_timestamp is not None, candidates)
        owned = list(claims.owned)
        for pod in claims.adopt:
            adopted = pod.deep_copy()
            adopted.metadata.owner_references = [*(adopted.metadata.owner_references or []), owner_reference(doc)]
            owned.append(await self.store.update(PODS, adopted, fence=self.fence))
        for pod in claims.release:
            released = pod.deep_copy()
            released.metadata.owner_references = [r for r in released.metadata.owner_references or []
                                                  if r.uid != ds.metadata.uid] or None
            await self.store.update(PODS, released, fence=self.fence)
        return owned

    async def _create(self, doc: KubeObject, ds: DaemonSet, key: str, nodes: list[str], template_hash: str) -> None:
        owner = owner_reference(doc)
        queue = list(nodes)
        for batch in slow_start_batches(len(queue)):
            chunk, queue = queue[:batch], queue[batch:]
            results = await asyncio.gather(*(self._create_one(doc, ds, key, node, template_hash, owner)
                                             for node in chunk), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    self.recorder.record(doc, "Warning", "FailedCreate", f"Error creating: {result}")
                    raise result

    async def _create_one(self, doc: KubeObject, ds: DaemonSet, key: str, node: str, template_hash: str,
                          owner: Any) -> None:
        body = daemonset_plan.daemon_pod(ds, node, template_hash)
        body["metadata"]["ownerReferences"] = [owner.to_dict()]
        created = await self.store.create(PODS, Pod.model_validate(body), fence=self.fence)
        if int(created.metadata.resource_version or 0) > self.informers.pods.revision:
            self.expectations.expect_create(key, object_key(created))
        self.recorder.record(doc, "Normal", "SuccessfulCreate", f"Created pod: {created.name}")

    async def _delete(self, doc: KubeObject, key: str, victims: list[Pod]) -> None:
        async def one(pod: Pod) -> None:
            try:
                await self.store.delete(PODS, pod.name, pod.namespace, uid=pod.metadata.uid, fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
            cached = self.informers.pods.get(object_key(pod))
            if cached is not None and is_active(cached):
                self.expectations.expect_delete(key, object_key(pod))
            self.recorder.record(doc, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.name}")
        results = await asyncio.gather(*(one(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _write_status(self, doc: KubeObject, ds: DaemonSet, status: dict[str, Any]) -> None:
        stored = doc.to_dict().get("status") or {}
        if semantic.part_equal("DaemonSet", "status", status, stored):
            return
        try:
            await self.store.update(DAEMONSETS, document(DAEMONSETS.model, {**doc.to_dict(), "status": status}),
                                    subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
