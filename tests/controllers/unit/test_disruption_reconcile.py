"""The disruption controller's reconcile on the in-memory Store with a fake clock: a budget's status from
the pods it selects and their controllers' scale (a Deployment's for its ReplicaSet's pods), an eviction's
record kept while its pod is on its way out and dropped two minutes later, the failSafe when a controller
cannot be found, and a pod's change queueing the budgets that select it."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.core import Pod
from kubelite.api.resources import DEPLOYMENTS, PODDISRUPTIONBUDGETS, PODS, REPLICASETS
from kubelite.storage.memstore import MemStore
from kubelite.util import clock as clocks
from kubelite.util.clock import FakeClock

from controllers.disruption import DisruptionController
from tests.controllers.unit.conftest import MakeWorld, World
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)


async def make(make_world: MakeWorld) -> tuple[World[DisruptionController], FakeClock]:
    clock = FakeClock()
    world = await make_world(DisruptionController, store=MemStore(clock=clock.now_seconds), clock=clock.now)
    return world, clock


async def add_workload(world: World[Any], replicas: int, ready: int, *, deployment_replicas: int | None = None) -> None:
    """A ReplicaSet ``web-1`` (owned by Deployment ``web`` when ``deployment_replicas``) with ``replicas`` pods,
    the first ``ready`` of them Running and Ready."""
    rs_owner = None
    if deployment_replicas is not None:
        deployment = await world.store.create(DEPLOYMENTS, DEPLOYMENTS.model.model_validate({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": deployment_replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}))
        rs_owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": deployment.metadata.uid,
                     "controller": True}]
    rs = await world.store.create(REPLICASETS, REPLICASETS.model.model_validate({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": "default", "ownerReferences": rs_owner},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}))
    for i in range(replicas):
        created = await world.store.create(PODS, Pod.model_validate({
            "metadata": {"name": f"web-{i}", "namespace": "default", "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
                                              "uid": rs.metadata.uid, "controller": True}]},
            "spec": {"containers": [{"name": "c", "image": "x:1"}], "nodeName": "n1"}}))
        if i < ready:
            running = created.deep_copy()
            running.status = type(created.status).model_validate(  # type: ignore[union-attr]
                {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
            await world.store.update(PODS, running, subresource="status")


async def add_budget(world: World[Any], spec: dict[str, Any]) -> None:
    await world.store.create(PODDISRUPTIONBUDGETS, PODDISRUPTIONBUDGETS.model.model_validate({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}))


async def status(world: World[Any]) -> dict[str, Any]:
    doc: dict[str, Any] = (await world.store.get(PODDISRUPTIONBUDGETS, "web", "default")).to_dict()
    found: dict[str, Any] = doc["status"]
    return found


def counts(s: dict[str, Any]) -> tuple[int, int, int, int]:
    return s["expectedPods"], s["desiredHealthy"], s["currentHealthy"], s["disruptionsAllowed"]


async def test_min_available_counts_ready_pods(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    await add_workload(world, replicas=3, ready=2)
    await add_budget(world, {"minAvailable": 1})
    await world.reconcile("default/web")
    s = await status(world)
    assert counts(s) == (3, 1, 2, 1) and s["observedGeneration"] == 1
    assert [(c["type"], c["status"], c["reason"]) for c in s["conditions"]] == [
        ("DisruptionAllowed", "True", "SufficientPods")]
    await world.assert_idempotent("default/web")


async def test_max_unavailable_takes_the_deployments_replicas(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    await add_workload(world, replicas=3, ready=3, deployment_replicas=4)
    await add_budget(world, {"maxUnavailable": "50%"})
    await world.reconcile("default/web")
    assert counts(await status(world)) == (4, 2, 3, 1)  # desired 4 - ceil(2)


async def test_a_replicaset_whose_deployment_is_gone_counts_its_own_replicas(make_world: MakeWorld) -> None:
    """kube's finders: the Deployment owning the ReplicaSet is not found, so the ReplicaSet's own scale counts."""
    world, _ = await make(make_world)
    await add_workload(world, replicas=3, ready=3, deployment_replicas=5)
    await world.store.delete(DEPLOYMENTS, "web", "default")
    await add_budget(world, {"maxUnavailable": 1})
    await world.reconcile("default/web")
    assert counts(await status(world)) == (3, 2, 3, 1)


async def test_an_eviction_record_is_kept_then_expires(make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Eviction API wrote (disruptionsAllowed spent, the pod in disruptedPods) holds while the pod
    is still there; two minutes on, the pod counts again (and a NotDeleted event says so)."""
    world, clock = await make(make_world)
    recorded: list[tuple[str, str, str]] = []  # the events, as the recorder is asked for them (no etcd here)
    monkeypatch.setattr(world.controller.recorder, "record",
                        lambda obj, _type, reason, message: recorded.append((obj.name, reason, message)))
    await add_workload(world, replicas=3, ready=3)
    await add_budget(world, {"minAvailable": 2})
    await world.reconcile("default/web")
    pdb = await world.store.get(PODDISRUPTIONBUDGETS, "web", "default")
    doc = pdb.to_dict()
    doc["status"]["disruptionsAllowed"] = 0
    doc["status"]["disruptedPods"] = {"web-0": clocks.format_time(clock.now())}
    await world.store.update(PODDISRUPTIONBUDGETS, PODDISRUPTIONBUDGETS.model.model_validate(doc), subresource="status")

    result = await world.reconcile("default/web")
    s = await status(world)
    assert counts(s) == (3, 2, 2, 0) and list(s["disruptedPods"]) == ["web-0"]
    assert result is not None and result.requeue_after == 120.0  # when the record expires

    clock.advance(121)
    await world.reconcile("default/web")
    s = await status(world)
    assert counts(s) == (3, 2, 3, 1) and "disruptedPods" not in s
    assert ("web-0", "NotDeleted", "Pod was expected by PDB default/web to be deleted but it wasn't") in recorded
    assert not [r for r in recorded if r[1] in ("NoPods", "UnmanagedPods")]  # the pods are there, all managed


async def test_a_controller_that_cannot_be_found_allows_no_disruption(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    await world.store.create(PODS, Pod.model_validate({
        "metadata": {"name": "job-pod", "namespace": "default", "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u",
                                          "controller": True}]},
        "spec": {"containers": [{"name": "c", "image": "x:1"}]}}))
    await add_budget(world, {"minAvailable": "50%"})
    await world.reconcile("default/web")
    s = await status(world)
    assert s["disruptionsAllowed"] == 0
    assert [(c["status"], c["reason"], c["message"]) for c in s["conditions"]] == [
        ("False", "SyncFailed", 'found no controllers for pod "job-pod"')]


async def test_a_pods_change_queues_the_budgets_selecting_it(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    await add_budget(world, {"minAvailable": 1})
    await world.controller.start_leading(None)
    await world.settle()
    await add_workload(world, replicas=2, ready=2)

    async def counted() -> bool:
        return counts(await status(world)) == (2, 1, 2, 1)
    await wait_for(counted, 10)


async def test_a_stale_disruption_target_is_set_back_to_false(make_world: MakeWorld) -> None:
    """An eviction marked the pod, then its delete did not happen: two minutes after the mark the condition
    is set back to False. The kubelet's own mark (TerminationByKubelet) stays."""
    world, clock = await make(make_world)
    marked_at = clocks.format_time(clock.now())
    for name, reason in (("evicted", "EvictionByEvictionAPI"), ("by-kubelet", "TerminationByKubelet")):
        created = await world.store.create(PODS, Pod.model_validate({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "x:1"}], "nodeName": "n1"}}))
        marked = created.deep_copy()
        marked.status = type(created.status).model_validate({  # type: ignore[union-attr]
            "phase": "Running", "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": reason,
                                                "lastTransitionTime": marked_at}]})
        await world.store.update(PODS, marked, subresource="status")
    await world.settle()
    assert world.controller.initial_keys() == ["stale-disruption:default/evicted"]
    clock.advance(30)
    result = await world.reconcile("stale-disruption:default/evicted")
    assert result is not None and result.requeue_after == 90.0
    clock.advance(91)
    assert await world.reconcile("stale-disruption:default/evicted") is None
    evicted = await world.store.get(PODS, "evicted", "default")
    assert evicted.status is not None
    target = evicted.status.condition("DisruptionTarget")
    assert target is not None and (target.status, target.reason) == ("False", None)
    assert await world.reconcile("stale-disruption:default/by-kubelet") is None
    kept = (await world.store.get(PODS, "by-kubelet", "default")).status
    assert kept is not None and kept.condition("DisruptionTarget").status == "True"  # type: ignore[union-attr]
    await world.assert_idempotent("stale-disruption:default/evicted")
