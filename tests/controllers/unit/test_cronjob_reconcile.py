"""The CronJob controller's reconcile on the in-memory Store with a fake clock: nothing before the
schedule is due, one Job named after its scheduled minute when it is, the concurrency policies, and
the status and history once Jobs finish (the test writes the Jobs' Complete condition). Real-etcd
test: tests/controllers/test_job.py::test_cronjob_starts_a_job_for_a_due_schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.api.resources import CRONJOBS, JOBS
from kubelite.storage.memstore import MemStore
from kubelite.util.clock import FakeClock

from controllers import cronjob_plan
from controllers.cronjob import CronJobController
from tests.controllers.test_job import job_doc
from tests.controllers.unit.conftest import MakeWorld, World

pytestmark = pytest.mark.timeout(30)

KEY = "default/tick"
START = datetime(2026, 1, 1, tzinfo=UTC)


class Setup:
    def __init__(self, world: World[CronJobController], clock: FakeClock) -> None:
        self.world, self.store, self.clock = world, world.store, clock

    async def create(self, schedule: str = "*/5 * * * *", **spec: Any) -> None:
        await self.store.create(CRONJOBS, CRONJOBS.model.model_validate({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": job_doc("unused")["spec"]}, **spec}}))

    async def jobs(self) -> list[str]:
        return sorted(j.name for j in (await self.store.list(JOBS, "default")).items)

    async def status(self) -> dict[str, Any]:
        return dict(getattr(await self.store.get(CRONJOBS, "tick", "default"), "status", None) or {})

    async def complete(self, name: str) -> None:
        """What the Job controller writes when a Job has succeeded."""
        job = await self.store.get(JOBS, name, "default")
        stamp = self.clock.now_seconds().strftime("%Y-%m-%dT%H:%M:%SZ")
        setattr(job, "status", {"succeeded": 1, "startTime": stamp, "completionTime": stamp, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": stamp},
            {"type": "Complete", "status": "True", "lastTransitionTime": stamp}]})
        await self.store.update(JOBS, job, subresource="status")

    def at(self, minute: int) -> None:
        """Move the clock to ``minute`` minutes past START."""
        self.clock.advance((START.timestamp() + minute * 60) - self.clock.wall())


def job_name(minute: int) -> str:
    return f"tick-{int(START.timestamp()) // 60 + minute}"


@pytest.fixture
async def setup(make_world: MakeWorld) -> Setup:
    clock = FakeClock(START)
    world = await make_world(CronJobController, store=MemStore(clock=clock.now_seconds), clock=clock.now,
                             monotonic=clock.monotonic)
    return Setup(world, clock)


async def test_starts_one_job_when_the_schedule_is_due_and_not_before(setup: Setup) -> None:
    await setup.create()
    setup.at(1)
    result = await setup.world.reconcile(KEY)
    assert await setup.jobs() == []
    assert result is not None and result.requeue_after == pytest.approx(4 * 60, abs=1)  # wakes at :05

    setup.at(5)
    await setup.world.reconcile(KEY)
    assert await setup.jobs() == [job_name(5)]
    job = await setup.store.get(JOBS, job_name(5), "default")
    cronjob = await setup.store.get(CRONJOBS, "tick", "default")
    assert job.metadata.controller_ref().uid == cronjob.metadata.uid  # type: ignore[union-attr]
    assert (job.metadata.annotations or {}).get(cronjob_plan.SCHEDULED_TIMESTAMP) == "2026-01-01T00:05:00Z"
    status = await setup.status()
    assert status.get("lastScheduleTime") == "2026-01-01T00:05:00Z"
    assert [ref.get("name") for ref in status.get("active") or []] == [job_name(5)]

    before = setup.store.revision
    await setup.world.reconcile(KEY)  # the same minute again: no second Job, nothing written
    assert setup.store.revision == before


async def test_forbid_skips_a_run_while_one_is_active_and_replace_replaces_it(setup: Setup) -> None:
    await setup.create(concurrencyPolicy="Forbid")
    setup.at(5)
    await setup.world.reconcile(KEY)
    setup.at(10)
    await setup.world.reconcile(KEY)
    assert await setup.jobs() == [job_name(5)]  # Forbid: the :05 Job still runs

    cronjob = await setup.store.get(CRONJOBS, "tick", "default")
    doc = cronjob.to_dict()
    doc["spec"]["concurrencyPolicy"] = "Replace"
    await setup.store.update(CRONJOBS, CRONJOBS.model.model_validate(doc))
    setup.at(15)
    await setup.world.reconcile(KEY)
    live = [j.name for j in (await setup.store.list(JOBS, "default")).items if j.metadata.deletion_timestamp is None]
    assert live == [job_name(15)]  # Replace: the running one is deleted, the :15 one started
    assert [ref.get("name") for ref in (await setup.status()).get("active") or []] == [job_name(15)]


async def test_finished_jobs_leave_active_set_last_successful_time_and_respect_history(setup: Setup) -> None:
    await setup.create(successfulJobsHistoryLimit=1)
    for minute in (5, 10):
        setup.at(minute)
        await setup.world.reconcile(KEY)
        setup.clock.advance(30)
        await setup.complete(job_name(minute))
        await setup.world.reconcile(KEY)
    status = await setup.status()
    assert not status.get("active")
    assert status.get("lastSuccessfulTime") == "2026-01-01T00:10:30Z"
    assert await setup.jobs() == [job_name(10)]  # one successful Job kept, the older one deleted


async def test_a_suspended_cronjob_starts_nothing(setup: Setup) -> None:
    await setup.create(suspend=True)
    setup.at(30)
    await setup.world.reconcile(KEY)
    assert await setup.jobs() == [] and not (await setup.status()).get("lastScheduleTime")
