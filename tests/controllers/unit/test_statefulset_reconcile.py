"""The StatefulSet controller's reconcile on the in-memory Store: ordered creation that waits for the
previous pod to be Running and Ready, claims, status, parallel creation and reverse-order scale-down.
Pods become Running/Ready only when the test writes their status. Real-etcd tests:
tests/controllers/test_statefulset.py."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Pod
from kubelite.api.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS
from kubelite.api.workloads import REVISION_HASH_LABEL
from kubelite.util.clock import FakeClock

from controllers.statefulset import StatefulSetController
from tests.controllers.test_statefulset import statefulset
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.kubelet import run_ready, set_pod_status

pytestmark = pytest.mark.timeout(30)

KEY = "default/web"


@pytest.fixture
async def world(make_world: MakeWorld) -> World[StatefulSetController]:
    clock = FakeClock()
    return await make_world(StatefulSetController, clock=clock.now, monotonic=clock.monotonic)


async def live(world: World[Any]) -> dict[str, Pod]:
    return {p.name: p for p in (await world.store.list(PODS, "default")).items if p.metadata.deletion_timestamp is None}


async def status(world: World[Any]) -> dict[str, Any]:
    doc = (await world.store.get(STATEFULSETS, "web", "default")).to_dict()
    return dict(doc.get("status") or {})


async def scale_ordered(world: World[StatefulSetController], replicas: int) -> None:
    """Set the set's replicas and make its pod management OrderedReady (a user's edit)."""
    current = await world.store.get(STATEFULSETS, "web", "default")
    doc = current.to_dict()
    doc["spec"]["replicas"] = replicas
    doc["spec"]["podManagementPolicy"] = "OrderedReady"
    await world.store.update(STATEFULSETS, STATEFULSETS.model.model_validate(doc))

async def test_ordered_creation_waits_for_the_previous_pod_running_and_ready(world: World[StatefulSetController]) -> None:
    await world.store.create(STATEFULSETS, statefulset("web", 3, claims=True))
    await world.reconcile(KEY)
    pods = await live(world)
    assert list(pods) == ["web-0"]
    assert [c.name for c in (await world.store.list(PERSISTENTVOLUMECLAIMS, "default")).items] == ["data-web-0"]
    [revision] = (await world.store.list(CONTROLLERREVISIONS, "default")).items
    assert (pods["web-0"].metadata.labels or {})[REVISION_HASH_LABEL] == revision.name

    await world.reconcile(KEY)  # web-0 is Pending: no web-1
    assert list(await live(world)) == ["web-0"]
    await set_pod_status(world.store, pods["web-0"], phase="Running", ready=False)
    await world.reconcile(KEY)  # Running but not Ready: still no web-1
    assert list(await live(world)) == ["web-0"]

    await run_ready(world.store, pods["web-0"])
    await world.reconcile(KEY)
    pods = await live(world)
    assert sorted(pods) == ["web-0", "web-1"]
    await run_ready(world.store, pods["web-1"])
    await world.reconcile(KEY)
    pods = await live(world)
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    await run_ready(world.store, pods["web-2"])
    await world.reconcile(KEY)
    s = await status(world)
    assert (s.get("replicas"), s.get("readyReplicas"), s.get("currentReplicas"), s.get("updatedReplicas")) == (3, 3, 3, 3)
    assert s.get("observedGeneration") == 1 and s.get("currentRevision") == s.get("updateRevision") == revision.name

    before = world.store.revision
    await world.reconcile(KEY)  # everything in place: nothing written
    assert world.store.revision == before


async def test_parallel_policy_creates_every_pod_at_once(world: World[StatefulSetController]) -> None:
    await world.store.create(STATEFULSETS, statefulset("web", 3, policy="Parallel"))
    await world.reconcile(KEY)
    assert sorted(await live(world)) == ["web-0", "web-1", "web-2"]


async def test_scale_down_goes_from_the_highest_ordinal_one_at_a_time(world: World[StatefulSetController]) -> None:
    await world.store.create(STATEFULSETS, statefulset("web", 3, policy="Parallel"))
    await world.reconcile(KEY)
    for pod in (await live(world)).values():
        await run_ready(world.store, pod)
    await world.reconcile(KEY)
    await scale_ordered(world, 1)
    await world.reconcile(KEY)
    assert sorted(await live(world)) == ["web-0", "web-1"]  # web-2 first, and only web-2
    await world.reconcile(KEY)
    assert sorted(await live(world)) == ["web-0"]
    await world.reconcile(KEY)  # the status counts what the cache held when the reconcile began
    s = await status(world)
    assert s.get("replicas") == 1 and s.get("observedGeneration") == 2


async def test_an_unready_remaining_pod_holds_an_ordered_scale_down(world: World[StatefulSetController]) -> None:
    await world.store.create(STATEFULSETS, statefulset("web", 3, policy="Parallel"))
    await world.reconcile(KEY)
    pods = await live(world)
    for name in ("web-1", "web-2"):
        await run_ready(world.store, pods[name])
    await set_pod_status(world.store, pods["web-0"], phase="Running", ready=False)
    await scale_ordered(world, 1)
    await world.reconcile(KEY)
    # kube's monotonic mode: nothing is condemned while a pod it keeps (web-0) is not Running and Ready
    assert sorted(await live(world)) == ["web-0", "web-1", "web-2"]
    await run_ready(world.store, pods["web-0"])
    await world.reconcile(KEY)
    assert sorted(await live(world)) == ["web-0", "web-1"]


class LaggingInformer:
    """The ControllerRevision informer as seen while its watch lags: nothing written after ``frozen``."""

    def __init__(self, real: Any, frozen: int) -> None:
        self.real, self.revision = real, frozen

    def by_index(self, index: str, value: str) -> list[Any]:
        return [o for o in self.real.by_index(index, value) if int(o.metadata.resource_version) <= self.revision]


async def test_a_revision_written_but_not_yet_watched_stays_the_current_one(
    world: World[StatefulSetController],
) -> None:
    """The set's own ControllerRevision, not yet delivered by its informer (another watch than the
    set's), still counts: the rollout keeps the partition and the next revision number is 2."""
    await world.store.create(STATEFULSETS, statefulset("web", 3, policy="Parallel", partition=2))
    world.controller.revisions.informer = LaggingInformer(world.controller.revisions.informer,  # type: ignore[assignment]
                                                          world.store.revision)
    await world.reconcile(KEY)
    for pod in (await live(world)).values():
        await run_ready(world.store, pod)
    await world.reconcile(KEY)
    first = (await status(world))["currentRevision"]
    doc = (await world.store.get(STATEFULSETS, "web", "default")).to_dict()
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = "demo:2"
    await world.store.update(STATEFULSETS, STATEFULSETS.model.model_validate(doc))
    for _ in range(3):  # delete web-2, create it anew, report
        await world.reconcile(KEY)

    revisions = {r.name: r.to_dict()["revision"] for r in (await world.store.list(CONTROLLERREVISIONS, "default")).items}
    assert revisions[first] == 1 and sorted(revisions.values()) == [1, 2]
    s = await status(world)
    assert s["currentRevision"] == first != s["updateRevision"]
    pods = await live(world)  # web-2, above the partition, is replaced
    assert {n: (p.metadata.labels or {})[REVISION_HASH_LABEL] for n, p in pods.items()} == {
        "web-0": first, "web-1": first, "web-2": s["updateRevision"]}
