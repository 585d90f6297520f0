"""The StatefulSet controller: stable names and storage, ordered or parallel scaling, rolling updates.

reconcile(sts key): find or write the ControllerRevision of the current template (the update
revision; the current revision is ``status.currentRevision``), claim pods, and — when the
expectations say the cache has caught up — execute :func:`controllers.statefulset_plan.plan`:
delete, then create (each pod's PersistentVolumeClaims first, ``<claim>-<set>-<ordinal>``).
The status is written only from a pod cache that has caught up too (kube writes it on every
sync); otherwise a set whose created pods are not yet watched reads as an update completed over
no pods, and ``status.currentRevision`` jumps to the update revision.
``persistentVolumeClaimRetentionPolicy``: with ``whenDeleted: Delete`` the claims carry an
ownerReference to the set (the garbage collector removes them with it); with ``whenScaled: Delete``
the claims of ordinals scaled away are deleted once their pod is gone. Then old revisions past
``revisionHistoryLimit`` go and the status is written.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import errors, semantic
from kubelite.api.core import Pod
from kubelite.api.meta import KubeObject
from kubelite.api.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS
from kubelite.api.workloads import StatefulSet, document, view
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result, TerminalError

from controllers import history
from controllers import statefulset_plan as plan_
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.expectations import Expectations
from controllers.podowners import PodOwnerEvents, owner_key
from controllers.podutil import is_active, owner_reference
from controllers.replicaset_plan import claim, selector_matches
from controllers.revisions import RevisionStore

log = logging.getLogger(__name__)


def _owner_key(obj: KubeObject) -> str | None:
    return owner_key(obj, "StatefulSet")


class StatefulSetController(Controller):
    name = "statefulset"
    component = "statefulset-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.workers = ctx.settings.statefulset_workers
        self.expectations = Expectations(clock=ctx.monotonic)
        self.pod_events = PodOwnerEvents("StatefulSet", self.expectations, self.enqueue, self._matching,
                                         expect_created_first=True)
        self.statefulsets = ctx.informers.for_resource(STATEFULSETS)
        self.controllerrevisions = ctx.informers.for_resource(CONTROLLERREVISIONS)
        self.claims = ctx.informers.for_resource(PERSISTENTVOLUMECLAIMS)
        self.revisions = RevisionStore(self, STATEFULSETS, self.controllerrevisions)

    def register(self) -> None:
        self.statefulsets.add_handler(FuncHandler.enqueue_all(lambda s: self.enqueue(object_key(s))))
        self.informers.pods.add_handler(self.pod_events.handler())
        self.controllerrevisions.add_handler(FuncHandler.enqueue_all(
            lambda cr: self.enqueue(_owner_key(cr))))

    def initial_keys(self) -> list[str]:
        return self.statefulsets.keys()

    async def prepare(self) -> None:
        self.expectations.clear()

    # -- handlers ---------------------------------------------------------------

    def _matching(self, pod: Pod) -> list[str]:
        return [object_key(doc) for doc in self.statefulsets.list(pod.namespace)
                if selector_matches(view(StatefulSet, doc).spec.selector, pod.metadata.labels)]

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        doc = self.statefulsets.get(key)
        if doc is None:
            self.expectations.forget(key)
            return None
        sts = view(StatefulSet, doc)
        if sts.metadata.deletion_timestamp is not None:
            return None
        selector = sts.spec.selector
        if selector is None or not (selector.match_labels or selector.match_expressions):
            raise TerminalError(f"statefulset {key}: empty selector")
        template = (doc.to_dict().get("spec") or {}).get("template") or {}
        update, revisions = await self.revisions.current(doc, template, sts.status.collision_count if sts.status else None)
        by_name = {r.name: r for r in revisions}
        previous = sts.status.current_revision if sts.status else None
        current = by_name.get(previous or "", update)
        names = plan_.Revisions(current=current.name, update=update.name)
        templates = {update.name: template, current.name: history.revision_template(current) or template}
        pods = await self._claim(doc, sts)
        decided = plan_.plan(sts, pods, names, self.ctx.clock())
        if self.expectations.satisfied(key):
            for pod_name in decided.delete:
                await self._delete_pod(doc, key, pod_name)
            for ordinal, revision in decided.create:
                await self._create_pod(doc, sts, key, ordinal, revision, templates[revision])
            await self._delete_scaled_claims(sts, pods)
        live = {current.name, update.name} | {r for p in pods if (r := plan_.revision_of(p))}
        await self.revisions.cleanup(doc, revisions, live, sts.spec.revision_history_limit)
        if self.expectations.satisfied(key):
            # Only a cache that has caught up with our own writes may report: the status is counted
            # from it, and a rolling update counted complete over no pods moves currentRevision for good.
            await self._write_status(doc, decided.status.to_dict())
        return Result(requeue_after=decided.requeue_after) if decided.requeue_after is not None else None

    async def _claim(self, doc: KubeObject, sts: StatefulSet) -> list[Pod]:
        pods = self.informers.pods
        candidates = pods.by_index("controller", sts.metadata.uid or "") + pods.by_index("orphans", sts.namespace or "")
        # only pods named after the set are its members (isMemberOf): others are never adopted
        candidates = [p for p in candidates if p.metadata.controller_ref() is not None
                      or plan_.ordinal_of(sts.name, p) is not None]
        claims = claim(sts.metadata.uid, sts.spec.selector, False, candidates)
        owned = list(claims.owned)
        for pod in claims.adopt:
            adopted = pod.deep_copy()
            adopted.metadata.owner_references = [*(adopted.metadata.owner_references or []), owner_reference(doc)]
            owned.append(await self.store.update(PODS, adopted, fence=self.fence))
        for pod in claims.release:
            released = pod.deep_copy()
            released.metadata.owner_references = [r for r in released.metadata.owner_references or []
                                                  if r.uid != sts.metadata.uid] or None
            await self.store.update(PODS, released, fence=self.fence)
        return owned

    async def _create_pod(self, doc: KubeObject, sts: StatefulSet, key: str, ordinal: int, revision: str,
                          template: dict[str, Any]) -> None:
        body = plan_.stateful_pod(sts, template, ordinal, revision)
        for claim_doc in plan_.claims_of(sts, ordinal):
            await self._ensure_claim(doc, sts, claim_doc, body["metadata"]["name"])
        body["metadata"]["ownerReferences"] = [owner_reference(doc).to_dict()]
        try:
            created = await self.store.create(PODS, Pod.model_validate(body), fence=self.fence)
        except errors.ApiError as exc:
            if exc.reason == "AlreadyExists":
                return  # the previous pod of this name is still going away; its deletion brings us back
            self.recorder.record(doc, "Warning", "FailedCreate",
                                 f"create Pod {body['metadata']['name']} in StatefulSet {sts.name} failed error: {exc}")
            raise
        if int(created.metadata.resource_version or 0) > self.informers.pods.revision:
            self.expectations.expect_create(key, object_key(created))
        self.recorder.record(doc, "Normal", "SuccessfulCreate",
                             f"create Pod {created.name} in StatefulSet {sts.name} successful")

    async def _ensure_claim(self, doc: KubeObject, sts: StatefulSet, claim_doc: dict[str, Any], pod: str) -> None:
        name = claim_doc["metadata"]["name"]
        if self.claims.get(f"{sts.namespace}/{name}") is not None:
            return
        if sts.spec.retention("when_deleted") == "Delete":
            ref = owner_reference(doc).model_copy(update={"controller": None})
            claim_doc["metadata"]["ownerReferences"] = [ref.to_dict()]
        try:
            await self.store.create(PERSISTENTVOLUMECLAIMS, document(PERSISTENTVOLUMECLAIMS.model, claim_doc),
                                    fence=self.fence)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                self.recorder.record(doc, "Warning", "FailedCreate",
                                     f"create Claim {name} for Pod {pod} in StatefulSet {sts.name} failed error: {exc}")
                raise
            return
        self.recorder.record(doc, "Normal", "SuccessfulCreate",
                             f"create Claim {name} Pod {pod} in StatefulSet {sts.name} success")

    async def _delete_pod(self, doc: KubeObject, key: str, name: str) -> None:
        pod_key = f"{doc.namespace}/{name}"
        cached = self.informers.pods.get(pod_key)
        try:
            await self.store.delete(PODS, name, doc.namespace,
                                    uid=cached.metadata.uid if cached is not None else None, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            return
        if cached is not None and is_active(cached):
            self.expectations.expect_delete(key, pod_key)
        self.recorder.record(doc, "Normal", "SuccessfulDelete", f"delete Pod {name} in StatefulSet {doc.name} successful")

    async def _delete_scaled_claims(self, sts: StatefulSet, pods: list[Pod]) -> None:
        """``whenScaled: Delete``: the claims of ordinals past the replicas go once their pod is gone."""
        if sts.spec.retention("when_scaled") != "Delete" or not sts.spec.volume_claim_templates:
            return
        start, end = sts.spec.start_ordinal, sts.spec.start_ordinal + sts.spec.effective_replicas
        present = {plan_.ordinal_of(sts.name, p) for p in pods}
        prefixes = [f"{(c.get('metadata') or {}).get('name')}-{sts.name}-" for c in sts.spec.volume_claim_templates]
        for pvc in self.claims.list(sts.namespace):
            prefix = next((p for p in prefixes if pvc.name.startswith(p)), None)
            suffix = pvc.name[len(prefix):] if prefix else ""
            if not suffix.isdigit() or start <= int(suffix) < end or int(suffix) in present:
                continue
            if pvc.metadata.deletion_timestamp is not None:
                continue
            try:
                await self.store.delete(PERSISTENTVOLUMECLAIMS, pvc.name, sts.namespace, fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise

    async def _write_status(self, doc: KubeObject, status: dict[str, Any]) -> None:
        stored = doc.to_dict().get("status") or {}
        if semantic.part_equal("StatefulSet", "status", status, stored):
            return
        try:
            await self.store.update(STATEFULSETS, document(STATEFULSETS.model, {**doc.to_dict(), "status": status}),
                                    subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
