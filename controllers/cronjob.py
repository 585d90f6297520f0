"""The CronJob controller (kube's cronjob v2 controller): starts a Job at each scheduled time.

reconcile(cronjob key): gather the Jobs it controls (an active Job missing from the cache is read
from etcd before it is declared missing, as kube does), let :mod:`controllers.cronjob_plan` decide,
then delete (Replace, history limits), create the Job named ``<cronjob>-<minutes>`` and write
``status.active/lastScheduleTime/lastSuccessfulTime``. It requeues itself for the next scheduled
time; the clock is the manager's (``ControllerContext.clock``), so tests can move it.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.api import errors, semantic
from kubelite.api.generic import StoredDocument
from kubelite.api.meta import KubeObject
from kubelite.api.resources import CRONJOBS, JOBS
from kubelite.client.informer import FuncHandler, object_key
from kubelite.client.reconcile import Result

from controllers import cronjob_plan as plan
from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.podutil import controller_ref_to, owner_reference

log = logging.getLogger(__name__)


def _owner_key(job: KubeObject) -> str | None:
    ref = controller_ref_to(job, "CronJob")
    return f"{job.namespace}/{ref.name}" if ref is not None else None


class CronJobController(Controller):
    name = "cronjob"
    component = "cronjob-controller"
    workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = ctx.informers.for_resource(JOBS)
        self.cronjobs = ctx.informers.for_resource(CRONJOBS)

    def register(self) -> None:
        self.cronjobs.add_handler(FuncHandler.enqueue_all(lambda cj: self.enqueue(object_key(cj))))
        self.jobs.add_handler(FuncHandler.enqueue_all(lambda job: self.enqueue(_owner_key(job))))

    def initial_keys(self) -> list[str]:
        return self.cronjobs.keys()

    async def reconcile(self, key: str) -> Result | None:
        cronjob = self.cronjobs.get(key)
        if cronjob is None:
            return None
        children = {j.metadata.uid: j for j in self.jobs.by_index("controller", cronjob.metadata.uid or "")
                    if controller_ref_to(j, "CronJob") is not None}
        doc = cronjob.to_dict()
        listed = {ref.get("uid") for ref in (doc.get("status") or {}).get("active") or []}
        if any(uid not in listed and plan.job_finished(j.to_dict()) is None for uid, j in children.items()):
            # an unfinished Job not in status.active: this cache may predate the status write that
            # added it; read the CronJob from etcd before calling it unexpected (as kube does)
            fresh = await self._get_cronjob(cronjob)
            if fresh is None:
                return None
            cronjob, doc = fresh, fresh.to_dict()
        for ref in (doc.get("status") or {}).get("active") or []:
            if ref.get("uid") not in children:  # the cache may lag: ask etcd before calling it missing
                live = await self._get_job(ref.get("name", ""), cronjob.namespace)
                if live is not None and live.metadata.uid == ref.get("uid"):
                    children[live.metadata.uid] = live
        decision = plan.decide(doc, [j.to_dict() for j in children.values()], self.ctx.clock())
        status = decision.status
        for job in decision.delete:
            await self._delete_job(cronjob, job)
        if decision.create is not None:
            created = await self._create_job(cronjob, decision.create)
            if created is not None:
                status["active"] = [*status.get("active", []), plan.active_ref(created.to_dict())]
        await self._write_status(cronjob, status)
        for type_, reason, message in decision.events:
            self.recorder.record(cronjob, type_, reason, message)
        return Result(requeue_after=decision.requeue_after) if decision.requeue_after is not None else None

    async def _get_cronjob(self, cronjob: KubeObject) -> StoredDocument | None:
        try:
            fresh = await self.store.get(CRONJOBS, cronjob.name, cronjob.namespace)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise
        return fresh if fresh.metadata.uid == cronjob.metadata.uid else None

    async def _get_job(self, name: str, namespace: str | None) -> StoredDocument | None:
        try:
            return await self.store.get(JOBS, name, namespace)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def _create_job(self, cronjob: KubeObject, doc: dict[str, Any]) -> KubeObject | None:
        job = JOBS.model.model_validate(doc)
        job.metadata.owner_references = [owner_reference(cronjob)]
        try:
            created = await self.store.create(JOBS, job, fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 409:
                if exc.code != 403:  # a Terminating namespace: the namespace controller deletes the CronJob
                    self.recorder.record(cronjob, "Warning", "FailedCreate", f"Error creating job: {exc}")
                    raise
                return None
            existing = await self._get_job(job.name, job.namespace)  # created before a crash: adopt into active
            ref = controller_ref_to(existing, "CronJob") if existing is not None else None
            return existing if ref is not None and ref.uid == cronjob.metadata.uid else None
        self.recorder.record(cronjob, "Normal", "SuccessfulCreate", f"Created job {created.name}")
        return created

    async def _delete_job(self, cronjob: KubeObject, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        try:
            await self.store.delete(JOBS, meta["name"], meta.get("namespace"), uid=meta.get("uid"),
                                    propagation_policy="Background", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            return
        self.recorder.record(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta['name']}")

    async def _write_status(self, cronjob: KubeObject, status: dict[str, Any]) -> None:
        clean = {k: v for k, v in status.items() if v not in (None, [], {})}
        if semantic.part_equal("CronJob", "status", clean, getattr(cronjob, "status", None) or {}):
            return
        updated = cronjob.deep_copy()
        setattr(updated, "status", clean)
        try:
            await self.store.update(CRONJOBS, updated, subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
