"""DaemonSet controller against real etcd with fake kubelets: a pod per eligible node, nodes coming
and going, taints, a rolling update with revisions, status."""

from __future__ import annotations

from typing import Any

from kubelite.api.core import Taint
from kubelite.api.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from kubelite.api.workloads import REVISION_HASH_LABEL
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import pods
from tests.helpers import wait_for

DS_ONLY = ("scheduler", "daemonset", "garbagecollector")


def daemonset(name: str, *, image: str = "demo:1", node_selector: dict[str, str] | None = None,
              max_surge: Any = None) -> Any:
    rolling: dict[str, Any] = {"maxUnavailable": 1}
    if max_surge is not None:
        rolling = {"maxUnavailable": 0, "maxSurge": max_surge}
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 1}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return DAEMONSETS.model.model_validate({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}})


async def nodes_of(store: Store, app: str) -> list[str]:
    return sorted(p.spec.node_name or "?" for p in await pods(store, app))


async def status_of(store: Store, name: str) -> dict[str, Any]:
    doc = (await store.get(DAEMONSETS, name, "default")).to_dict()
    return {"generation": doc["metadata"].get("generation"), **(doc.get("status") or {})}


async def test_one_pod_per_node_new_nodes_taints_and_selector(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("n1")
    await make_kubelet("n2", taints=[Taint(key="dedicated", value="x", effect="NoSchedule")])
    await make_manager(controllers=DS_ONLY)
    await store.create(DAEMONSETS, daemonset("agent"))
    await wait_for(lambda: nodes_of_is(store, "agent", ["n1"]), 15)
    await make_kubelet("n3")
    await wait_for(lambda: nodes_of_is(store, "agent", ["n1", "n3"]), 15)

    async def settled() -> bool:
        s = await status_of(store, "agent")
        return (s.get("desiredNumberScheduled") == 2 and s.get("currentNumberScheduled") == 2
                and s.get("numberReady") == 2 and s.get("numberAvailable") == 2 and s.get("numberMisscheduled") == 0
                and s.get("updatedNumberScheduled") == 2 and s.get("observedGeneration") == s["generation"])
    await wait_for(settled, 15)
    for pod in await pods(store, "agent"):
        keys = {(t.key, t.effect) for t in pod.spec.tolerations or []}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in keys
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
        terms = pod.spec.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [pod.spec.node_name]}]}]
    # a node leaving takes its pod with it; a NoExecute taint evicts the daemon pod
    await store.delete(NODES, "n3")
    await wait_for(lambda: nodes_of_is(store, "agent", ["n1"]), 15)

    def taint(node: Any) -> Any:
        node.spec.taints = [Taint(key="evict", effect="NoExecute")]
        return node
    await store.guaranteed_update(NODES, "n1", None, taint)
    await wait_for(lambda: nodes_of_is(store, "agent", []), 15)


async def nodes_of_is(store: Store, app: str, expected: list[str]) -> bool:
    return await nodes_of(store, app) == expected


async def test_rolling_update_keeps_one_unavailable_and_records_revisions(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    for name in ("n1", "n2", "n3"):
        await make_kubelet(name)
    await make_manager(controllers=DS_ONLY)
    await store.create(DAEMONSETS, daemonset("roll"))
    await wait_for(lambda: nodes_of_is(store, "roll", ["n1", "n2", "n3"]), 15)
    first = {p.metadata.labels[REVISION_HASH_LABEL] for p in await pods(store, "roll")}
    assert len(first) == 1

    def new_image(ds: Any) -> Any:
        doc = ds.to_dict()
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "demo:2"
        return DAEMONSETS.model.model_validate(doc)
    await store.guaranteed_update(DAEMONSETS, "roll", "default", new_image)

    async def rolled() -> bool:
        current = await pods(store, "roll")
        images = {p.spec.containers[0].image for p in current}
        return images == {"demo:2"} and len(current) == 3
    await wait_for(rolled, 30)
    revisions = sorted((r.to_dict()["revision"], r.name) for r in (await store.list(CONTROLLERREVISIONS, "default")).items)
    assert [r for r, _ in revisions] == [1, 2]
    assert revisions[0][1] == f"roll-{first.pop()}"
    # the plan never had more than one node without its pod (maxUnavailable 1): each pod's replacement
    # is created only after the old one is deleted, which the pure tests check step by step
    listed = await store.list(PODS, "default")
    assert all(p.metadata.labels[REVISION_HASH_LABEL] == revisions[1][1].removeprefix("roll-")
               for p in listed.items if p.metadata.deletion_timestamp is None)


async def test_deleting_the_daemonset_takes_its_pods_and_revisions(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("n1")
    await make_manager(controllers=DS_ONLY)
    await store.create(DAEMONSETS, daemonset("gone"))
    await wait_for(lambda: nodes_of_is(store, "gone", ["n1"]), 15)
    assert (await store.list(CONTROLLERREVISIONS, "default")).items
    await store.delete(DAEMONSETS, "gone", "default")

    async def all_gone() -> bool:
        left_pods = [p for p in (await store.list(PODS, "default")).items if p.metadata.labels.get("app") == "gone"]
        return not left_pods and not (await store.list(CONTROLLERREVISIONS, "default")).items
    await wait_for(all_gone, 20)
