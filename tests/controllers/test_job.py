"""Job and CronJob controllers end to end on real etcd: an in-process controller-manager and a sim
agent (its containers exit by themselves after ``SIM_EXIT_AFTER`` seconds with ``SIM_EXIT_CODE``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.agent import Agent
from agent.runtime.sim import SimRuntime
from controllers import job_plan
from controllers.manager import ControllerManager
from kubelite.api.resources import CRONJOBS, JOBS, PODS
from kubelite.api.batch_rules import JOB_CONTROLLER_NAME
from kubelite.util.humanize import parse_time
from kubelite.storage.store import Store
from tests.agent.conftest import agent_config
from tests.controllers.conftest import MakeManager
from tests.helpers import wait_for

CONTROLLERS = ("scheduler", "job", "cronjob", "garbagecollector")


@pytest.fixture
async def sim_node(store: Store) -> AsyncIterator[Agent]:
    agent = Agent(agent_config("jobs-node", max_pods=200), store=store, runtime=SimRuntime(node="jobs-node"))
    await agent.start()
    try:
        yield agent
    finally:
        await asyncio.wait_for(agent.stop(), 30)


def job_doc(name: str, *, exit_code: int = 0, after: float = 0.2, **spec: Any) -> dict[str, Any]:
    container = {"name": "work", "image": "kubelite/demo:latest",
                 "env": [{"name": "SIM_EXIT_AFTER", "value": str(after)}, {"name": "SIM_EXIT_CODE", "value": str(exit_code)}]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {**spec, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}


async def create_job(store: Store, doc: dict[str, Any]) -> Any:
    return await store.create(JOBS, JOBS.model.model_validate(doc))


async def job_status(store: Store, name: str) -> dict[str, Any]:
    return dict(getattr(await store.get(JOBS, name, "default"), "status", None) or {})


def has(status: dict[str, Any], type_: str) -> bool:
    return job_plan.condition(status, type_) is not None


async def job_pods(store: Store, uid: str) -> list[Any]:
    listed = await store.list(PODS, "default")
    return [p for p in listed.items if any(r.uid == uid for r in p.metadata.owner_references or [])]


async def test_job_runs_five_completions_two_at_a_time(store: Store, make_manager: MakeManager,
                                                       sim_node: Agent) -> None:
    await make_manager(controllers=CONTROLLERS)
    job = await create_job(store, job_doc("five", completions=5, parallelism=2))
    peak = 0

    async def complete() -> bool:
        nonlocal peak
        pods = await job_pods(store, job.metadata.uid)
        peak = max(peak, sum(1 for p in pods if not p.is_terminated()))
        return has(await job_status(store, "five"), "Complete")

    await wait_for(complete, timeout=60, interval=0.02)
    status = await job_status(store, "five")
    assert status["succeeded"] == 5 and status.get("failed", 0) == 0
    assert has(status, "SuccessCriteriaMet") and status["completionTime"] and status["startTime"]
    assert not status.get("uncountedTerminatedPods")
    assert peak <= 2  # never more than parallelism at once
    pods = await job_pods(store, job.metadata.uid)
    assert len(pods) == 5 and all(p.phase == "Succeeded" for p in pods)
    assert all(job_plan.TRACKING_FINALIZER not in (p.metadata.finalizers or []) for p in pods)
    labels = pods[0].metadata.labels or {}
    assert labels["batch.kubernetes.io/job-name"] == "five" and labels["controller-uid"] == job.metadata.uid


async def test_indexed_job_runs_each_index_once(store: Store, make_manager: MakeManager, sim_node: Agent) -> None:
    await make_manager(controllers=CONTROLLERS)
    job = await create_job(store, job_doc("idx", completions=3, parallelism=3, completionMode="Indexed"))
    await wait_for(lambda: job_status(store, "idx"), timeout=60)
    await wait_for(lambda: _complete(store, "idx"), timeout=60)
    status = await job_status(store, "idx")
    assert status["completedIndexes"] == "0-2" and status["succeeded"] == 3
    pods = await job_pods(store, job.metadata.uid)
    indexes = sorted(int((p.metadata.annotations or {})[job_plan.COMPLETION_INDEX]) for p in pods)
    assert indexes == [0, 1, 2]
    for pod in pods:
        index = (pod.metadata.annotations or {})[job_plan.COMPLETION_INDEX]
        env = {e["name"]: e for e in pod.to_dict()["spec"]["containers"][0]["env"]}
        var = env[job_plan.COMPLETION_INDEX_ENV]  # a plain value, or kube's fieldRef once the agent resolves it
        assert var.get("value") == index or var["valueFrom"]["fieldRef"]["fieldPath"] == \
            f"metadata.annotations['{job_plan.COMPLETION_INDEX}']"
        assert pod.name.startswith(f"idx-{index}-")


async def _complete(store: Store, name: str) -> bool:
    return has(await job_status(store, name), "Complete")


async def test_backoff_limit_fails_the_job(store: Store, make_manager: MakeManager, sim_node: Agent) -> None:
    manager = await make_manager(controllers=CONTROLLERS)
    # the pod failure back-off (10 s, 20 s, ...) would make this slow: the manager's clock jumps ahead
    assert manager.ctx is not None
    skew = timedelta()
    manager.ctx.clock = lambda: datetime.now(UTC) + skew
    await create_job(store, job_doc("fails", exit_code=3, backoffLimit=1))

    async def failed_twice() -> bool:
        nonlocal skew
        skew += timedelta(seconds=15)  # each look moves the clock past the next back-off
        return has(await job_status(store, "fails"), "Failed")

    await wait_for(failed_twice, timeout=60, interval=0.2)
    status = await job_status(store, "fails")
    failed = job_plan.condition(status, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert status["failed"] == 2 and status.get("succeeded", 0) == 0
    assert has(status, "FailureTarget")


async def test_counts_survive_a_manager_restart(store: Store, make_manager: MakeManager, sim_node: Agent) -> None:
    """Finalizer tracking: a new manager continues the count without counting a pod twice."""
    first = await make_manager("cm-a", controllers=CONTROLLERS)
    job = await create_job(store, job_doc("restart", completions=6, parallelism=3, after=0.5))
    await wait_for(lambda: _succeeded_at_least(store, "restart", 1), timeout=60)
    await first.stop()
    await make_manager("cm-b", controllers=CONTROLLERS)
    await wait_for(lambda: _complete(store, "restart"), timeout=60)
    status = await job_status(store, "restart")
    pods = await job_pods(store, job.metadata.uid)
    assert status["succeeded"] == 6
    assert sum(1 for p in pods if p.phase == "Succeeded") >= 6


async def _succeeded_at_least(store: Store, name: str, count: int) -> bool:
    return (await job_status(store, name)).get("succeeded", 0) >= count


async def test_cronjob_starts_a_job_for_a_due_schedule(store: Store, make_manager: MakeManager,
                                                        sim_node: Agent) -> None:
    """The clock is the manager's: set one minute ahead, ``*/1`` is due now, no 60 s wait."""
    manager: ControllerManager = await make_manager(controllers=CONTROLLERS)
    assert manager.ctx is not None
    manager.ctx.clock = lambda: datetime.now(UTC) + timedelta(minutes=1, seconds=1)
    template = job_doc("unused")["spec"]
    cronjob = await store.create(CRONJOBS, CRONJOBS.model.model_validate({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
        "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": template}}}))

    async def started() -> Any:
        status = getattr(await store.get(CRONJOBS, "tick", "default"), "status", None) or {}
        return status if status.get("lastScheduleTime") else None

    status = await wait_for(started, timeout=30)
    scheduled = parse_time(status["lastScheduleTime"])
    assert scheduled is not None
    name = f"tick-{int(scheduled.timestamp()) // 60}"
    job = await store.get(JOBS, name, "default")
    assert job.metadata.owner_references[0].uid == cronjob.metadata.uid
    await wait_for(lambda: _complete(store, name), timeout=60)

    async def success_seen() -> bool:
        cj = getattr(await store.get(CRONJOBS, "tick", "default"), "status", None) or {}
        return bool(cj.get("lastSuccessfulTime")) and not cj.get("active")

    await wait_for(success_seen, timeout=30)


async def test_ttl_deletes_a_finished_job_and_a_deleted_job_leaves_no_pod(store: Store, make_manager: MakeManager,
                                                                           sim_node: Agent) -> None:
    """ttlSecondsAfterFinished removes the Job, the GC its pods; a running Job's deletion releases its
    pods' tracking finalizers (orphan handling), so nothing is left behind in either case."""
    await make_manager(controllers=CONTROLLERS)
    short = await create_job(store, job_doc("short", completions=2, parallelism=2, ttlSecondsAfterFinished=0))
    running = await create_job(store, job_doc("long", completions=1, after=600))
    await wait_for(lambda: _has_running_pod(store, running.metadata.uid), timeout=30)
    await store.delete(JOBS, "long", "default", propagation_policy="Background")

    async def gone(uid: str, name: str) -> bool:
        try:
            await store.get(JOBS, name, "default")
            return False
        except Exception:  # noqa: BLE001 - 404: the Job is gone
            return not await job_pods(store, uid)

    await wait_for(lambda: gone(short.metadata.uid, "short"), timeout=60)
    await wait_for(lambda: gone(running.metadata.uid, "long"), timeout=60)


async def _has_running_pod(store: Store, uid: str) -> bool:
    return any(p.phase == "Running" for p in await job_pods(store, uid))


async def test_suspended_job_runs_nothing_until_resumed(store: Store, make_manager: MakeManager,
                                                        sim_node: Agent) -> None:
    await make_manager(controllers=CONTROLLERS)
    job = await create_job(store, job_doc("later", completions=1, suspend=True))
    status = await wait_for(lambda: _with_condition(store, "later", "Suspended"), timeout=30)
    assert "startTime" not in status and not await job_pods(store, job.metadata.uid)

    def resume(current: Any) -> Any:
        current.spec["suspend"] = False
        return current

    await store.guaranteed_update(JOBS, "later", "default", resume)
    await wait_for(lambda: _complete(store, "later"), timeout=60)
    suspended = job_plan.condition(await job_status(store, "later"), "Suspended")
    assert suspended is None  # now False, reason JobResumed
    conditions = {c["type"]: c for c in (await job_status(store, "later"))["conditions"]}
    assert conditions["Suspended"]["status"] == "False" and conditions["Suspended"]["reason"] == "JobResumed"


async def _with_condition(store: Store, name: str, type_: str) -> dict[str, Any] | None:
    status = await job_status(store, name)
    return status if has(status, type_) else None


async def test_active_deadline_stops_the_pods_and_fails_the_job(store: Store, make_manager: MakeManager,
                                                                 sim_node: Agent) -> None:
    """DeadlineExceeded: FailureTarget first, the running pod stopped (and counted failed, as kube),
    Failed once no pod is left running; the pod's finalizer is released after it is counted."""
    await make_manager(controllers=CONTROLLERS)
    job = await create_job(store, job_doc("slow", completions=1, after=600, activeDeadlineSeconds=2))
    await wait_for(lambda: _with_condition(store, "slow", "Failed"), timeout=60)
    status = await job_status(store, "slow")
    failed = job_plan.condition(status, "Failed")
    assert failed is not None and failed["reason"] == "DeadlineExceeded"
    assert has(status, "FailureTarget") and status.get("failed") == 1 and not status.get("active")

    async def released() -> bool:
        pods = await job_pods(store, job.metadata.uid)
        return all(job_plan.TRACKING_FINALIZER not in (p.metadata.finalizers or []) for p in pods)

    await wait_for(released, timeout=30)


async def test_orphaned_pods_lose_the_tracking_finalizer(store: Store, make_manager: MakeManager,
                                                         sim_node: Agent) -> None:
    """``kubectl delete job --cascade=orphan``: the pods stay, without the Job's reference or finalizer."""
    await make_manager(controllers=CONTROLLERS)
    job = await create_job(store, job_doc("kept", completions=1, after=600))
    await wait_for(lambda: _has_running_pod(store, job.metadata.uid), timeout=30)
    pod = (await job_pods(store, job.metadata.uid))[0]
    await store.delete(JOBS, "kept", "default", propagation_policy="Orphan")

    async def released() -> bool:
        current = await store.get(PODS, pod.name, "default")
        return not current.metadata.owner_references and \
            job_plan.TRACKING_FINALIZER not in (current.metadata.finalizers or [])

    await wait_for(released, timeout=30)


async def test_a_job_managed_by_another_controller_is_left_to_it_but_for_its_ttl(
        store: Store, make_manager: MakeManager, sim_node: Agent) -> None:
    """spec.managedBy (JobManagedBy): the Job controller creates no pod and writes no status for a Job
    another controller manages, while it runs its own Jobs; once that controller finishes the Job,
    ttlSecondsAfterFinished still removes it (kube's TTL controller ignores managedBy)."""
    await make_manager(controllers=CONTROLLERS)
    other = await create_job(store, job_doc("other", managedBy="example.com/queue", ttlSecondsAfterFinished=0))
    ours = await create_job(store, job_doc("ours", managedBy=JOB_CONTROLLER_NAME))
    await wait_for(lambda: _complete(store, "ours"), timeout=60)  # the controller has been through both
    assert await job_pods(store, ours.metadata.uid)
    assert not await job_pods(store, other.metadata.uid) and await job_status(store, "other") == {}

    stamp = job_plan.rfc3339(datetime.now(UTC))
    finished = dict((await store.get(JOBS, "other", "default")).to_dict())
    finished["status"] = {"startTime": stamp, "completionTime": stamp, "succeeded": 1, "conditions": [
        {"type": t, "status": "True", "lastTransitionTime": stamp, "lastProbeTime": stamp}
        for t in ("SuccessCriteriaMet", "Complete")]}
    await store.update(JOBS, JOBS.model.model_validate(finished), subresource="status")

    async def gone() -> bool:
        return "other" not in {j.name for j in (await store.list(JOBS, "default")).items}
    await wait_for(gone, timeout=30, message="the finished external Job removed by its TTL")
