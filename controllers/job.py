"""The Job controller (kube's ``pkg/controller/job``): runs a Job's pods to completion.

reconcile(job key): count finished pods with the finalizer protocol of :mod:`controllers.job_plan`
(uncounted → finalizer removed → counted), then — when the cache has caught up with this
controller's own pod writes (expectations) — create or delete pods as the plan says and write the
status (conditions, counters, startTime/completionTime). A finished Job with
``ttlSecondsAfterFinished`` is deleted when its time is up (kube's TTL-after-finished controller).

A Job with ``spec.managedBy`` naming another controller is skipped (kube's syncJob does the same),
but for its TTL once finished (:func:`controllers.job_plan.decide_external`).

Pods whose Job is gone still carry the tracking finalizer: a pod event of such a pod queues
``orphan:<ns>/<name>``, whose reconcile removes the finalizer (kube's orphan-pod handling).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubelite.api import errors, semantic
from kubelite.api.core import EnvVar, Pod
from kubelite.api.generic import StoredDocument
from kubelite.api.meta import KubeObject
from kubelite.api.resources import JOBS, PODS
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result
from kubelite.storage.store import NotLeader
from kubelite.registry.strategy import is_namespace_terminating

from controllers import job_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.expectations import Expectations
from controllers.podutil import controller_ref_to, owner_reference

log = logging.getLogger(__name__)

BURST_PODS = 500  # at most this many pod creates or deletes per reconcile, as the ReplicaSet controller
_ORPHAN = "orphan:"


def _owner_key(pod: Pod) -> str | None:
    ref = controller_ref_to(pod, "Job")
    return f"{pod.namespace}/{ref.name}" if ref is not None else None


def completion_index_env(index: int) -> dict[str, Any]:
    """``JOB_COMPLETION_INDEX`` as kube's controller sets it: a downward-API fieldRef to the pod's
    completion-index annotation, once the agent resolves ``valueFrom`` (EnvVar has ``value_from``);
    until then the plain value, which is the same number (a pod's index never changes)."""
    if "value_from" in EnvVar.model_fields:
        path = f"metadata.annotations['{plan.COMPLETION_INDEX}']"
        return {"name": plan.COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {"fieldPath": path}}}
    return {"name": plan.COMPLETION_INDEX_ENV, "value": str(index)}


def pod_for(job: KubeObject, index: int | None, failures: int = 0) -> Pod:
    """The pod a Job runs (for ``index`` when Indexed): its template, labels, finalizer and owner."""
    doc = job.to_dict()
    template = (doc.get("spec") or {}).get("template") or {}
    meta = dict(template.get("metadata") or {})
    spec: dict[str, Any] = dict(template.get("spec") or {})
    labels, annotations = dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    name = f"{job.name}-"
    if index is not None:
        labels[plan.COMPLETION_INDEX] = annotations[plan.COMPLETION_INDEX] = str(index)
        if (doc.get("spec") or {}).get("backoffLimitPerIndex") is not None:
            annotations[plan.INDEX_FAILURE_COUNT] = str(failures)
        name = f"{job.name}-{index}-"
        spec.setdefault("hostname", f"{job.name}-{index}")
        env = completion_index_env(index)
        for group in ("initContainers", "containers"):
            spec[group] = [{**c, "env": [*(e for e in c.get("env") or [] if e.get("name") != env["name"]), env]}
                           for c in spec.get(group) or []]
    pod = Pod.model_validate({"metadata": {"generateName": name, "namespace": job.namespace,
                                           "labels": labels or None, "annotations": annotations or None,
                                           "finalizers": [plan.TRACKING_FINALIZER]},
                              "spec": spec})
    pod.metadata.owner_references = [owner_reference(job)]
    return pod


class JobController(Controller):
    name = "job"
    component = "job-controller"
    workers = 4

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = ctx.informers.for_resource(JOBS)
        self.expectations = Expectations(clock=ctx.monotonic)
        self.finalizers_removed: set[str] = set()  # pod uids: removed by us, the cache has not seen it yet

    def register(self) -> None:
        self.jobs.add_handler(FuncHandler.enqueue_all(lambda job: self.enqueue(object_key(job))))
        self.informers.pods.add_handler(FuncHandler(add=self._pod_added, update=lambda _o, new: self._pod_changed(new),
                                                    delete=self._pod_deleted))

    def initial_keys(self) -> list[str]:
        orphans = [f"{_ORPHAN}{object_key(p)}" for p in self.informers.pods.list()
                   if plan.has_finalizer(p) and not self._owner_exists(p)]
        return [*self.jobs.keys(), *orphans]

    async def prepare(self) -> None:
        """A new term: what the previous leader wrote that this cache has not seen yet is pending."""
        self.expectations.clear()
        self.finalizers_removed.clear()
        listed = await self.store.list(PODS, raw_filter=lambda raw: b'"Job"' in raw)
        in_etcd = {p.metadata.uid: p for p in listed.items}
        cached = [p for p in self.informers.pods.list() if _owner_key(p)]
        for pod in cached:  # finalizers removed by the previous leader: counted already
            now = in_etcd.get(pod.metadata.uid)
            if plan.has_finalizer(pod) and (now is None or not plan.has_finalizer(now)):
                self.finalizers_removed.add(pod.metadata.uid or "")

        def owned(pods: list[Pod]) -> list[tuple[str, str, bool]]:
            return [(owner, object_key(p), plan.is_active(p)) for p in pods if (owner := _owner_key(p))]

        self.expectations.seed_from_diff(owned(listed.items), owned(cached))

    # -- handlers ---------------------------------------------------------------

    def _owner_exists(self, pod: Pod) -> bool:
        ref = controller_ref_to(pod, "Job")
        job = self.jobs.get(f"{pod.namespace}/{ref.name}") if ref is not None else None
        return job is not None and ref is not None and job.metadata.uid == ref.uid

    def _pod_added(self, pod: Pod) -> None:
        owner = _owner_key(pod)
        if owner is None:
            self._pod_changed(pod)  # an orphan may still carry our finalizer
            return
        if plan.is_active(pod):
            self.expectations.observed_create(owner, object_key(pod))
        else:
            self.expectations.observed_delete(owner, object_key(pod))
        self._pod_changed(pod)

    def _pod_changed(self, pod: Pod) -> None:
        owner = _owner_key(pod)
        if owner is None:  # orphaned (``--cascade=orphan``, or its reference removed): release it
            if plan.has_finalizer(pod):
                self.enqueue(f"{_ORPHAN}{object_key(pod)}")
            return
        if not plan.has_finalizer(pod):
            self.finalizers_removed.discard(pod.metadata.uid or "")
        if not plan.is_active(pod):
            self.expectations.observed_delete(owner, object_key(pod))
        if self._owner_exists(pod):
            self.enqueue(owner)
        elif plan.has_finalizer(pod):
            self.enqueue(f"{_ORPHAN}{object_key(pod)}")

    def _pod_deleted(self, pod: Pod) -> None:
        owner = _owner_key(pod)
        self.finalizers_removed.discard(pod.metadata.uid or "")
        if owner is not None:
            self.expectations.observed_delete(owner, object_key(pod))
            self.enqueue(owner)

    # -- reconcile --------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        if key.startswith(_ORPHAN):
            await self._release_orphan(key.removeprefix(_ORPHAN))
            return None
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            return None
        pods = [p for p in self.informers.pods.by_index("controller", job.metadata.uid or "")
                if controller_ref_to(p, "Job") is not None]
        if job.metadata.deletion_timestamp is not None:
            await asyncio.gather(*(self._unfinalize(p) for p in pods if plan.has_finalizer(p)))
            return None
        now = self.ctx.clock()
        if (manager := plan.managed_by_other(job.to_dict())) is not None:
            log.debug("job %s is managed by %s: skipped", key, manager)
            external = plan.decide_external(job.to_dict(), now)
            if external.delete_job:
                await self._expire(job)
                return None
            return Result(requeue_after=external.requeue_after) if external.requeue_after is not None else None
        spec = plan.JobSpec.from_doc(job.to_dict())
        status = dict(getattr(job, "status", None) or {})
        tracking = plan.track(status, pods, spec, skip=self.finalizers_removed, now=now)
        if tracking.unfinalize:  # step 1 lands before any finalizer goes
            job = await self._write_status(job, tracking.status)
            if job is None:
                return None
            released = await asyncio.gather(*(self._unfinalize(p) for p in tracking.unfinalize))
            gone = {p.metadata.uid or "" for p, ok in zip(tracking.unfinalize, released, strict=True) if ok}
        else:
            gone = set()
        status = dict(getattr(job, "status", None) or {})
        uncounted = status.get("uncountedTerminatedPods") or {}
        cached = {p.metadata.uid for p in pods if plan.has_finalizer(p)}
        gone |= {u for u in [*uncounted.get("succeeded", []), *uncounted.get("failed", [])]
                 if u not in cached or u in self.finalizers_removed}
        status = plan.count_finalized(status, gone, spec)
        if not self.expectations.satisfied(key):
            await self._write_status(job, status)
            return None
        decision = plan.decide(job.to_dict(), status, pods, now)
        if decision.delete_job:
            await self._expire(job)
            return None
        await self._delete_pods(job, key, decision.delete[:BURST_PODS], release=not decision.count_deleted)
        if decision.create:
            await self._create_pods(job, key, [None] * min(decision.create, BURST_PODS))
        elif decision.create_indexes:
            await self._create_pods(job, key, list(decision.create_indexes[:BURST_PODS]), decision.index_failures)
        written = await self._write_status(job, decision.status)
        for type_, reason, message in decision.events:
            if written is not None:
                self.recorder.record(written, type_, reason, message)
        return Result(requeue_after=decision.requeue_after) if decision.requeue_after is not None else None

    async def _write_status(self, job: StoredDocument, status: dict[str, Any]) -> StoredDocument | None:
        """The Job with ``status`` written (unchanged: as it is); None when the Job is gone."""
        old = getattr(job, "status", None) or {}
        # as kube's JobStatus serialises: omitempty counters, ready/terminating always, uncounted always ({})
        clean = {k: v for k, v in status.items()
                 if k == "uncountedTerminatedPods" or (v not in (None, {}, [], "") and
                                                      not (v == 0 and k in ("active", "succeeded", "failed")))}
        clean.setdefault("uncountedTerminatedPods", {})
        if semantic.part_equal("Job", "status", clean, old):
            return job
        updated = job.deep_copy()
        setattr(updated, "status", clean)
        try:
            return await self.store.update(JOBS, updated, subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def _unfinalize(self, pod: Pod) -> bool:
        """Remove the tracking finalizer; True when it is gone (or the pod is)."""
        def without(current: Pod) -> Pod | None:
            if not plan.has_finalizer(current):
                return None
            current.metadata.finalizers = [f for f in current.metadata.finalizers or []
                                           if f != plan.TRACKING_FINALIZER] or None
            return current
        try:
            await self.store.guaranteed_update(PODS, pod.name, pod.namespace, without, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        self.finalizers_removed.add(pod.metadata.uid or "")
        return True

    async def _release_orphan(self, pod_key: str) -> None:
        pod = self.informers.pods.get(pod_key)
        if pod is None or not plan.has_finalizer(pod) or self._owner_exists(pod):
            return None
        await self._unfinalize(pod)  # the Job is gone: the garbage collector deletes the pod
        return None

    async def _expire(self, job: KubeObject) -> None:
        """ttlSecondsAfterFinished is up: delete the Job; its pods follow (garbage collector)."""
        try:
            await self.store.delete(JOBS, job.name, job.namespace, uid=job.metadata.uid,
                                    propagation_policy="Foreground", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        return None

    async def _create_pods(self, job: KubeObject, key: str, indexes: list[int | None],
                           index_failures: dict[int, int] | None = None) -> None:
        counts = index_failures or {}
        results = await asyncio.gather(*(self._create_one(job, key, i, counts.get(i or 0, 0))
                                         for i in indexes), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if isinstance(failure, asyncio.CancelledError):
                raise failure
        if failures and all(is_namespace_terminating(f) for f in failures):
            return
        if failures:
            if not isinstance(failures[0], NotLeader):
                self.recorder.record(job, "Warning", "FailedCreate", f"Error creating: {failures[0]}")
            raise failures[0]

    async def _create_one(self, job: KubeObject, key: str, index: int | None, failures: int) -> None:
        created = await self.store.create(PODS, pod_for(job, index, failures), fence=self.fence)
        if int(created.metadata.resource_version or 0) > self.informers.pods.revision:
            self.expectations.expect_create(key, object_key(created))
        self.recorder.record(job, "Normal", "SuccessfulCreate", f"Created pod: {created.name}")

    async def _delete_pods(self, job: KubeObject, key: str, victims: list[Pod], *, release: bool) -> None:
        async def one(pod: Pod) -> None:
            # released first, as kube's deleteJobPods does: a pod the controller stops is no failure
            # (but a failing Job's pods are: they keep the finalizer and are counted when they end)
            if release and plan.has_finalizer(pod):
                await self._unfinalize(pod)
            try:
                await self.store.delete(PODS, pod.name, pod.namespace, uid=pod.metadata.uid, fence=self.fence)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
            cached = self.informers.pods.get(object_key(pod))
            if cached is not None and plan.is_active(cached):
                self.expectations.expect_delete(key, object_key(pod))
            self.recorder.record(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.name}")
        results = await asyncio.gather(*(one(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

