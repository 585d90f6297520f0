"""The resource quota controller's reconcile on the in-memory Store with a fake clock: status.hard and
status.used filled from the namespace's objects (scopes, terminal pods, count/<resource>.<group>), nothing
written when nothing changed, a conflicting write retried by the loop, replenishment queueing the quota,
and the pure plan (tracked kinds, a stuck-terminating pod's recheck)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import errors, quota
from kubelite.api.core import Pod
from kubelite.api.resources import CONFIGMAPS, DEPLOYMENTS, PODS, RESOURCEQUOTAS, SERVICES
from kubelite.registry import resourcequota
from kubelite.registry.strategy import default_pod
from kubelite.storage.memstore import MemStore
from kubelite.util.clock import FakeClock

from controllers import resourcequota_plan as plan
from controllers.resourcequota import ResourceQuotaController
from tests.controllers.unit.conftest import MakeWorld, World

pytestmark = pytest.mark.timeout(30)


async def make(make_world: MakeWorld) -> tuple[World[ResourceQuotaController], FakeClock]:
    clock = FakeClock()
    world = await make_world(ResourceQuotaController, store=MemStore(clock=clock.now_seconds), clock=clock.now)
    return world, clock


async def add_quota(world: World[Any], hard: dict[str, Any], *, name: str = "q", **spec: Any) -> None:
    await world.store.create(RESOURCEQUOTAS, RESOURCEQUOTAS.model.model_validate({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "default"},
        "spec": {"hard": hard, **spec}}))


async def add_pod(world: World[Any], name: str, cpu: str | None = None, **spec: Any) -> Pod:
    resources = {"resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}} if cpu else {}
    return await world.store.create(PODS, Pod.model_validate({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "x:1", **resources}], **spec}}))


async def status(world: World[Any], name: str = "q") -> dict[str, Any]:
    found: dict[str, Any] = (await world.store.get(RESOURCEQUOTAS, name, "default")).to_dict().get("status") or {}
    return found


async def test_status_has_hard_and_used(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    await add_pod(world, "a", "500m")
    await add_pod(world, "b", "250m")
    await add_pod(world, "free")
    await add_quota(world, {"pods": "10", "requests.cpu": "2", "limits.cpu": "4", "count/deployments.apps": "1",
                            "services": "3", "configmaps": "5"})
    await world.reconcile("default/q")
    assert await status(world) == {
        "hard": {"pods": "10", "requests.cpu": "2", "limits.cpu": "4", "count/deployments.apps": "1", "services": "3",
                 "configmaps": "5"},
        "used": {"pods": "3", "requests.cpu": "750m", "limits.cpu": "750m", "count/deployments.apps": "0",
                 "services": "0", "configmaps": "0"}}
    await world.assert_idempotent("default/q")


async def test_terminal_pods_and_scopes(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    done = await add_pod(world, "done", "1")
    done.status = type(done.status).model_validate({"phase": "Failed"})  # type: ignore[union-attr]
    await world.store.update(PODS, done, subresource="status")
    await add_pod(world, "batch", "1", activeDeadlineSeconds=60)
    await add_pod(world, "web", "1")
    await add_pod(world, "besteffort")
    await add_quota(world, {"pods": "9", "count/pods": "9"}, name="all")
    await add_quota(world, {"pods": "9", "requests.cpu": "9"}, name="terminating", scopes=["Terminating"])
    await add_quota(world, {"pods": "9"}, name="besteffort", scopes=["BestEffort"])
    for name in ("all", "terminating", "besteffort"):
        await world.reconcile(f"default/{name}")
    assert (await status(world, "all"))["used"] == {"pods": "3", "count/pods": "4"}
    assert (await status(world, "terminating"))["used"] == {"pods": "1", "requests.cpu": "1"}
    assert (await status(world, "besteffort"))["used"] == {"pods": "1"}


async def test_object_counts_of_other_kinds(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    for i in range(2):
        await world.store.create(DEPLOYMENTS, DEPLOYMENTS.model.model_validate({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"d{i}", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}))
    await world.store.create(CONFIGMAPS, CONFIGMAPS.model.model_validate({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}}))
    await world.store.create(SERVICES, SERVICES.model.model_validate({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
        "spec": {"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}}))
    await add_quota(world, {"count/deployments.apps": "5", "count/configmaps": "5", "configmaps": "5",
                            "services.nodeports": "5", "services.loadbalancers": "1"})
    await world.reconcile("default/q")
    assert (await status(world))["used"] == {"count/deployments.apps": "2", "count/configmaps": "1", "configmaps": "1",
                                             "services.nodeports": "2", "services.loadbalancers": "0"}


async def test_a_quota_changed_meanwhile_is_a_conflict_for_the_loop(make_world: MakeWorld,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The status write compares the quota's revision as read: an admission charge in between fails it."""
    world, _ = await make(make_world)
    await add_quota(world, {"pods": "5"})
    real_list = world.store.list

    async def list_then_charge(res: Any, *args: Any, **kwargs: Any) -> Any:
        found = await real_list(res, *args, **kwargs)
        if res is PODS:  # an admission charges the quota after the controller read it
            quota = await world.store.get(RESOURCEQUOTAS, "q", "default")
            doc = quota.to_dict()
            doc["status"] = {"hard": {"pods": "5"}, "used": {"pods": "1"}}
            await world.store.update(RESOURCEQUOTAS, RESOURCEQUOTAS.model.model_validate(doc), subresource="status")
        return found
    monkeypatch.setattr(world.store, "list", list_then_charge)
    with pytest.raises(errors.ApiError) as caught:
        await world.controller.reconcile("default/q")
    assert caught.value.code == 409
    assert (await status(world))["used"] == {"pods": "1"}  # the charge stands


async def test_a_deleted_pod_queues_its_namespaces_quotas(make_world: MakeWorld) -> None:
    world, _ = await make(make_world)
    await add_quota(world, {"pods": "5"})
    await world.controller.start_leading(None)
    try:
        await add_pod(world, "a")
        await world.settle()
        from tests.helpers import wait_for

        async def used(n: str) -> bool:
            return (await status(world)).get("used") == {"pods": n}
        await wait_for(lambda: used("1"), 5)
        await world.store.delete(PODS, "a", "default")
        await wait_for(lambda: used("0"), 5)
    finally:
        await world.controller.stop_leading()


def test_plan_tracks_the_kinds_and_rechecks_terminating_pods() -> None:
    assert [r.plural for r in plan.tracked_kinds(["pods", "requests.storage", "count/jobs.batch", "cpu"])] == [
        "pods", "persistentvolumeclaims", "jobs"]
    clock = FakeClock()
    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "default"},
                              "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
    pod.metadata.deletion_timestamp, pod.metadata.deletion_grace_period_seconds = clock.now() + timedelta(seconds=10), 30
    assert plan.next_change({}, {PODS: [pod]}, now=clock.now()) == 41.0
    assert plan.new_status({"spec": {"hard": {"pods": "1"}}, "status": {"hard": {"pods": "1"}, "used": {"pods": "0"}}},
                           {"pods": "0"}) is None


def test_plan_counts_custom_resources_by_their_crd() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True}]},
           "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    hard = ["count/widgets.example.com", "count/pods"]
    kinds = plan.tracked_kinds(hard)
    assert plan.counts_uncovered(hard, kinds) and not plan.counts_uncovered(["count/pods"], kinds)
    (widgets,) = plan.custom_kinds(hard, [crd])
    assert (widgets.plural, widgets.group) == ("widgets", "example.com")
    clock = FakeClock()
    assert plan.calculate_usage({"spec": {"hard": {"count/widgets.example.com": "3"}}},
                                {widgets: [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]},
                                now=clock.now()) == {"count/widgets.example.com": "2"}


_PODS = st.lists(st.tuples(st.sampled_from(["", "100m", "250m", "1", "1.5"]), st.booleans(),
                           st.sampled_from([None, "Running", "Succeeded", "Failed"])), max_size=8)


def _pod(i: int, cpu: str, deadline: bool, phase: str | None) -> Pod:
    resources = {"resources": {"requests": {"cpu": cpu}}} if cpu else {}
    return Pod.model_validate({
        "metadata": {"name": f"p{i}", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "x:1", **resources}],
                 **({"activeDeadlineSeconds": 30} if deadline else {})},
        **({"status": {"phase": phase}} if phase else {})})


@settings(max_examples=50, deadline=None)
@given(pods=_PODS, extra=_PODS)
def test_usage_after_create_then_delete_is_back_where_it_was(pods: list[Any], extra: list[Any]) -> None:
    clock = FakeClock()
    doc = {"spec": {"hard": {"pods": "100", "count/pods": "100", "requests.cpu": "100"}, "scopes": ["NotTerminating"]}}
    base = [_pod(i, *p) for i, p in enumerate(pods)]
    more = [_pod(100 + i, *p) for i, p in enumerate(extra)]
    before = plan.calculate_usage(doc, {PODS: base}, now=clock.now())
    during = plan.calculate_usage(doc, {PODS: base + more}, now=clock.now())
    after = plan.calculate_usage(doc, {PODS: base}, now=clock.now())
    assert after == before
    assert all(quota.value(during[k]) >= quota.value(before[k]) for k in before)


@settings(max_examples=50, deadline=None)
@given(pods=_PODS)
def test_what_admission_charges_is_what_the_controller_counts(pods: list[Any]) -> None:
    """Pods admitted one by one against a quota the controller just synced: the charged used equals the
    controller's recount of the admitted pods (pending pods: the admission sees them before any phase)."""
    clock = FakeClock()
    hard = {"pods": "4", "count/pods": "6", "requests.cpu": "2"}
    doc: dict[str, Any] = {"metadata": {"name": "q"}, "spec": {"hard": hard}, "status": {}}
    doc["status"] = plan.new_status(doc, plan.calculate_usage(doc, {PODS: []}, now=clock.now()))
    admitted = []
    for i, (cpu, deadline, _) in enumerate(pods):
        candidate = default_pod(_pod(i, cpu or "100m", deadline, None))
        try:
            charged = resourcequota.charge("pods", "", [doc], candidate, name=candidate.name, now=clock.now())
        except errors.ApiError:
            continue
        doc = charged[0]
        admitted.append(candidate)
    recount = plan.calculate_usage(doc, {PODS: admitted}, now=clock.now())
    assert all(quota.value(recount[k]) == quota.value(doc["status"]["used"][k]) for k in hard)
    assert plan.new_status(doc, recount) is None


def test_status_hard_is_canonical() -> None:
    doc = {"spec": {"hard": {"requests.memory": "1024Mi", "requests.cpu": "1000m", "pods": "10"}}}
    assert plan.new_status(doc, {}) == {"hard": {"requests.memory": "1Gi", "requests.cpu": "1", "pods": "10"},
                                        "used": {}}
    doc["status"] = {"hard": {"requests.memory": "1Gi", "requests.cpu": "1", "pods": "10"},
                     "used": {"requests.memory": "0", "requests.cpu": "0", "pods": "0"}}
    assert plan.new_status(doc, {"requests.memory": "0", "requests.cpu": "0", "pods": "0"}) is None
