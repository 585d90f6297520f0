"""The Job controller's reconcile on the in-memory Store: parallelism and completions, the tracking
finalizer, the Complete and Failed conditions, and the back-off between failed pods on a fake clock.
Pods finish only when the test writes their phase. Real-etcd tests: tests/controllers/test_job.py."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Pod
from kubelite.api.resources import JOBS, PODS
from kubelite.storage.memstore import MemStore
from kubelite.util.clock import FakeClock

from controllers import job_plan
from controllers.job import JobController
from tests.controllers.test_job import job_doc
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.kubelet import set_pod_status

pytestmark = pytest.mark.timeout(30)

KEY = "default/work"


class Setup:
    def __init__(self, world: World[JobController], clock: FakeClock) -> None:
        self.world, self.store, self.clock = world, world.store, clock

    async def create(self, **spec: Any) -> None:
        await self.store.create(JOBS, JOBS.model.model_validate(job_doc("work", **spec)))

    async def pods(self) -> list[Pod]:
        return [p for p in (await self.store.list(PODS, "default")).items if p.metadata.deletion_timestamp is None]

    async def active(self) -> list[Pod]:
        return [p for p in await self.pods() if p.phase not in ("Succeeded", "Failed")]

    async def status(self) -> dict[str, Any]:
        return dict(getattr(await self.store.get(JOBS, "work", "default"), "status", None) or {})

    async def finish(self, pod: Pod, phase: str) -> None:
        await set_pod_status(self.store, pod, phase=phase, since=self.clock.now_seconds())


@pytest.fixture
async def setup(make_world: MakeWorld) -> Setup:
    clock = FakeClock()
    world = await make_world(JobController, store=MemStore(clock=clock.now_seconds), clock=clock.now,
                             monotonic=clock.monotonic)
    return Setup(world, clock)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return job_plan.condition(status, type_)


async def test_runs_parallelism_pods_with_the_tracking_finalizer_and_writes_status(setup: Setup) -> None:
    await setup.create(completions=3, parallelism=2)
    await setup.world.reconcile(KEY)
    pods = await setup.pods()
    job = await setup.store.get(JOBS, "work", "default")
    assert len(pods) == 2
    assert all(job_plan.TRACKING_FINALIZER in (p.metadata.finalizers or []) for p in pods)
    assert all(p.metadata.controller_ref().uid == job.metadata.uid for p in pods)  # type: ignore[union-attr]
    status = await setup.status()
    assert status.get("active") == 2 and status.get("startTime") == "2026-01-01T00:00:00Z"
    before = setup.store.revision
    await setup.world.reconcile(KEY)
    assert setup.store.revision == before  # nothing changed: nothing written


async def test_counts_successes_then_completes(setup: Setup) -> None:
    await setup.create(completions=3, parallelism=2)
    await setup.world.reconcile(KEY)
    first = (await setup.pods())[0]
    setup.clock.advance(5)
    await setup.finish(first, "Succeeded")
    await setup.world.reconcile(KEY)
    # counted once its finalizer is gone, and a third pod is started for the last completion
    done = await setup.store.get(PODS, first.name, "default")
    assert job_plan.TRACKING_FINALIZER not in (done.metadata.finalizers or [])
    status = await setup.status()
    assert status.get("succeeded") == 1 and status.get("active") == 2 and len(await setup.pods()) == 3
    for pod in await setup.active():
        await setup.finish(pod, "Succeeded")
    await setup.world.reconcile(KEY)
    await setup.world.reconcile(KEY)
    status = await setup.status()
    assert status.get("succeeded") == 3 and not status.get("active")
    assert condition(status, "Complete") is not None and condition(status, "SuccessCriteriaMet") is not None
    assert status.get("completionTime") == "2026-01-01T00:00:05Z"
    assert len(await setup.pods()) == 3  # no pod beyond the completions


async def test_failures_back_off_then_exceed_the_backoff_limit(setup: Setup) -> None:
    await setup.create(completions=1, backoffLimit=1)
    await setup.world.reconcile(KEY)
    [pod] = await setup.active()
    await setup.finish(pod, "Failed")
    result = await setup.world.reconcile(KEY)
    status = await setup.status()
    assert status.get("failed") == 1 and condition(status, "Failed") is None
    # kube's pod back-off: no replacement before 10 s after the failure
    assert await setup.active() == [] and result is not None and result.requeue_after == pytest.approx(10)
    setup.clock.advance(10)
    await setup.world.reconcile(KEY)
    [second] = await setup.active()
    assert second.name != pod.name
    await setup.finish(second, "Failed")
    await setup.world.reconcile(KEY)
    await setup.world.reconcile(KEY)
    status = await setup.status()
    failed = condition(status, "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded", status
    assert status.get("failed") == 2 and not status.get("active")
    setup.clock.advance(3600)
    await setup.world.reconcile(KEY)
    assert await setup.active() == []  # a failed Job starts nothing more
