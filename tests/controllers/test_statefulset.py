"""StatefulSet controller against real etcd with fake kubelets: ordered start, stable names, claims,
partitioned rolling update, scale-down in reverse order, status."""

from __future__ import annotations

from typing import Any

from kubelite.api.resources import CONTROLLERREVISIONS, PERSISTENTVOLUMECLAIMS, PODS, STATEFULSETS
from kubelite.api.workloads import POD_INDEX_LABEL, REVISION_HASH_LABEL, STS_POD_NAME_LABEL
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import pods
from tests.helpers import wait_for

STS_ONLY = ("scheduler", "statefulset", "garbagecollector")


def statefulset(name: str, replicas: int, *, image: str = "demo:1", partition: int = 0,
                policy: str = "OrderedReady", claims: bool = False, when_scaled: str = "Retain") -> Any:
    spec: dict[str, Any] = {
        "replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "app", "image": image}], "terminationGracePeriodSeconds": 1}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": when_scaled},
    }
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "1Mi"}}}}]
    return STATEFULSETS.model.model_validate({"apiVersion": "apps/v1", "kind": "StatefulSet",
                                              "metadata": {"name": name, "namespace": "default"}, "spec": spec})


async def names(store: Store, app: str) -> list[str]:
    return sorted(p.name for p in await pods(store, app))


async def status_of(store: Store, name: str) -> dict[str, Any]:
    doc = (await store.get(STATEFULSETS, name, "default")).to_dict()
    return {"generation": doc["metadata"].get("generation"), **(doc.get("status") or {})}


async def test_ordered_start_identity_claims_and_reverse_scale_down(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    gate: set[str] = set()  # pods the kubelet reports Ready
    await make_kubelet("n1", ready=lambda pod: pod.name in gate)
    await make_manager(controllers=STS_ONLY)
    await store.create(STATEFULSETS, statefulset("db", 3, claims=True, when_scaled="Delete"))
    await wait_for(lambda: names_are(store, "db", ["db-0"]), 15)
    assert await names(store, "db") == ["db-0"]  # db-1 waits for db-0 to be Ready
    gate.add("db-0")
    await touch(store, "db-0")
    await wait_for(lambda: names_are(store, "db", ["db-0", "db-1"]), 15)
    gate.update({"db-1", "db-2"})
    await touch(store, "db-1")
    await wait_for(lambda: names_are(store, "db", ["db-0", "db-1", "db-2"]), 15)
    pod = await store.get(PODS, "db-2", "default")
    assert pod.spec.hostname == "db-2" and pod.spec.subdomain == "db"
    labels = pod.metadata.labels or {}
    assert labels[STS_POD_NAME_LABEL] == "db-2" and labels[POD_INDEX_LABEL] == "2"
    assert labels[REVISION_HASH_LABEL].startswith("db-")
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-2"}} in pod.to_dict()["spec"]["volumes"]
    claims = sorted(c.name for c in (await store.list(PERSISTENTVOLUMECLAIMS, "default")).items)
    assert claims == ["data-db-0", "data-db-1", "data-db-2"]

    async def status_ready() -> bool:
        s = await status_of(store, "db")
        return (s.get("replicas") == 3 and s.get("readyReplicas") == 3 and s.get("availableReplicas") == 3
                and s.get("updatedReplicas") == 3 and s.get("currentRevision") == s.get("updateRevision")
                and s.get("observedGeneration") == s["generation"])
    await wait_for(status_ready, 15)
    # a deleted pod comes back under its name
    uid = (await store.get(PODS, "db-1", "default")).metadata.uid
    await store.delete(PODS, "db-1", "default")
    gate.add("db-1")

    async def replaced() -> bool:
        try:
            return (await store.get(PODS, "db-1", "default")).metadata.uid != uid
        except Exception:  # noqa: BLE001 - not there yet
            return False
    await wait_for(replaced, 15)
    # scale down: highest ordinal first; its claim goes (whenScaled: Delete)
    await store.guaranteed_update(STATEFULSETS, "db", "default", lambda s: set_replicas(s, 1))
    await wait_for(lambda: names_are(store, "db", ["db-0"]), 20)

    async def claims_left() -> bool:
        left = sorted(c.name for c in (await store.list(PERSISTENTVOLUMECLAIMS, "default")).items)
        return left == ["data-db-0"]
    await wait_for(claims_left, 15)


def set_replicas(sts: Any, n: int) -> Any:
    doc = sts.to_dict()
    doc["spec"]["replicas"] = n
    return STATEFULSETS.model.model_validate(doc)


async def touch(store: Store, name: str) -> None:
    """Make the fake kubelet look at a pod again (its readiness gate changed)."""
    def mutate(pod: Any) -> Any:
        pod.metadata.annotations = {**(pod.metadata.annotations or {}), "touched": "1"}
        return pod
    await store.guaranteed_update(PODS, name, "default", mutate)


async def names_are(store: Store, app: str, expected: list[str]) -> bool:
    return await names(store, app) == expected


async def test_partitioned_rolling_update_and_parallel_start(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("n1")
    await make_manager(controllers=STS_ONLY)
    await store.create(STATEFULSETS, statefulset("web", 3, policy="Parallel", partition=2))
    await wait_for(lambda: names_are(store, "web", ["web-0", "web-1", "web-2"]), 15)

    # The template may change only once the set's status names its first revision: until then the
    # controller takes the newest revision as the current one too (kube's getStatefulSetRevisions
    # does), and the partition would hold nothing back. A slow status write made this flaky.
    async def first_revision_recorded() -> bool:
        s = await status_of(store, "web")
        return bool(s.get("currentRevision")) and s.get("observedGeneration") == s["generation"]
    await wait_for(first_revision_recorded, 15)

    def new_image(sts: Any) -> Any:
        doc = sts.to_dict()
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "demo:2"
        return STATEFULSETS.model.model_validate(doc)
    await store.guaranteed_update(STATEFULSETS, "web", "default", new_image)

    async def images() -> dict[str, str]:
        return {p.name: p.spec.containers[0].image for p in await pods(store, "web")}

    async def partitioned() -> bool:
        s = await status_of(store, "web")
        return await images() == {"web-0": "demo:1", "web-1": "demo:1", "web-2": "demo:2"} and (
            s.get("updatedReplicas") == 1 and s.get("currentRevision") != s.get("updateRevision"))
    await wait_for(partitioned, 20)
    revisions = (await store.list(CONTROLLERREVISIONS, "default")).items
    assert sorted(r.to_dict()["revision"] for r in revisions) == [1, 2]

    def no_partition(sts: Any) -> Any:
        doc = sts.to_dict()
        doc["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 0
        return STATEFULSETS.model.model_validate(doc)
    await store.guaranteed_update(STATEFULSETS, "web", "default", no_partition)

    async def done() -> bool:
        s = await status_of(store, "web")
        return set((await images()).values()) == {"demo:2"} and len(await images()) == 3 and (
            s.get("currentRevision") == s.get("updateRevision") and s.get("updatedReplicas") == 3)
    await wait_for(done, 30)
