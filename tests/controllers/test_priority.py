"""Pod priority: admission resolves priorityClassName (and the global default) for every writer, and
the scheduler takes higher-priority pods first."""

from __future__ import annotations

import pytest

from kubelite.api import errors
from kubelite.api.resources import PODS, PRIORITYCLASSES
from kubelite.storage.store import Store
from kubelite.client.workqueue import WorkQueue

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import bare_pod
from tests.helpers import wait_for


def priority_class(name: str, value: int, *, default: bool = False) -> object:
    return PRIORITYCLASSES.model.model_validate({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                                 "metadata": {"name": name}, "value": value, "globalDefault": default})


async def test_work_queue_pops_higher_priority_first() -> None:
    priorities = {"low": 1, "mid": 5, "high": 10, "also-high": 10}
    queue = WorkQueue("q", priority=priorities.__getitem__)
    for key in ("low", "high", "mid", "also-high"):
        queue.add(key)
    assert [await queue.get() for _ in range(4)] == ["high", "also-high", "mid", "low"]


async def test_admission_resolves_class_default_and_refuses_unknown(store: Store) -> None:
    await store.create(PRIORITYCLASSES, priority_class("high", 1000))
    named = bare_pod("named")
    named.spec.priority_class_name = "high"
    created = await store.create(PODS, named)
    assert created.spec.priority == 1000 and (created.spec.model_extra or {})["preemptionPolicy"] == "PreemptLowerPriority"
    system = bare_pod("system")
    system.spec.priority_class_name = "system-node-critical"
    assert (await store.create(PODS, system)).spec.priority == 2_000_001_000
    plain = await store.create(PODS, bare_pod("plain"))
    assert plain.spec.priority is None  # no default class: kube's 0, left unwritten
    unknown = bare_pod("unknown")
    unknown.spec.priority_class_name = "nope"
    with pytest.raises(errors.ApiError) as refused:
        await store.create(PODS, unknown)
    assert refused.value.code == 403 and "no PriorityClass with name nope was found" in refused.value.status.message
    lying = bare_pod("lying")
    lying.spec.priority_class_name, lying.spec.priority = "high", 5
    with pytest.raises(errors.ApiError) as refused:
        await store.create(PODS, lying)
    assert refused.value.code == 403 and "computed 1000" in refused.value.status.message
    await store.create(PRIORITYCLASSES, priority_class("everyone", 7, default=True))
    defaulted = await store.create(PODS, bare_pod("defaulted"))
    assert defaulted.spec.priority == 7 and defaulted.spec.priority_class_name == "everyone"


async def test_scheduler_binds_the_higher_priority_pod_first(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await store.create(PRIORITYCLASSES, priority_class("urgent", 100))
    await make_manager(controllers=("scheduler",))
    for i in range(5):  # five low-priority pods queued before it: FIFO would bind one of them
        await store.create(PODS, bare_pod(f"low-{i}", cpu="3"))
    high = bare_pod("high", cpu="3")
    high.spec.priority_class_name = "urgent"
    await store.create(PODS, high)

    async def both_unschedulable() -> bool:
        listed = (await store.list(PODS, "default")).items
        return all(p.status and p.status.condition("PodScheduled") is not None for p in listed) and len(listed) == 6
    await wait_for(both_unschedulable, 10)  # no node yet: both wait
    await make_kubelet("n1", cpu="4")  # room for one of them

    async def bound() -> list[str]:
        return [p.name for p in (await store.list(PODS, "default")).items if p.spec.node_name]
    await wait_for(lambda: _nonempty(bound), 15)
    assert await bound() == ["high"]


async def _nonempty(get: object) -> bool:
    return bool(await get())  # type: ignore[operator]
