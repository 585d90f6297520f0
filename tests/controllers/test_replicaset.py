"""ReplicaSet controller against real etcd: scale, adoption/release, replacement, status, events."""

from __future__ import annotations

from kubelite.api.core import ResourceRequirements
from kubelite.api.resources import EVENTS, PODS, REPLICASETS
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import bare_pod, pods, replicaset, running_ready
from tests.helpers import wait_for

RS_ONLY = ("scheduler", "replicaset")


async def count_is(store: Store, app: str, n: int, *, ready: bool = False) -> bool:
    found = await (running_ready(store, app) if ready else pods(store, app))
    return len(found) == n


async def test_scale_up_and_down_with_status_and_events(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("n1")
    await make_kubelet("n2")
    await make_manager(controllers=RS_ONLY)
    await store.create(REPLICASETS, replicaset("web", 5))
    await wait_for(lambda: count_is(store, "web", 5, ready=True), 15)

    async def status_is(replicas: int, ready: int) -> bool:
        rs = await store.get(REPLICASETS, "web", "default")
        s = rs.status
        return bool(s and s.replicas == replicas and s.ready_replicas == ready and s.available_replicas == ready
                    and s.fully_labeled_replicas == replicas and s.observed_generation == rs.metadata.generation)

    await wait_for(lambda: status_is(5, 5), 10)
    for pod in await pods(store, "web"):
        ref = pod.metadata.controller_ref()
        assert ref is not None and ref.kind == "ReplicaSet" and ref.name == "web" and ref.block_owner_deletion

    def scale(n: int):  # noqa: ANN202
        def mutate(rs):  # noqa: ANN001, ANN202
            rs.spec.replicas = n
            return rs
        return mutate

    await store.guaranteed_update(REPLICASETS, "web", "default", scale(2))
    await wait_for(lambda: count_is(store, "web", 2), 10)
    await wait_for(lambda: status_is(2, 2), 10)
    # after the deleted pods are gone (the kubelet finished them), the count stays exact
    await wait_for(lambda: _all_pods_count(store, 2), 10)

    async def both_recorded() -> bool:  # Events are written in the background
        events = (await store.list(EVENTS, "default")).items
        return {"SuccessfulCreate", "SuccessfulDelete"} <= {e.reason for e in events if e.involved_object.kind == "ReplicaSet"}

    await wait_for(both_recorded, 10, message="SuccessfulCreate and SuccessfulDelete Events about the set")


async def _all_pods_count(store: Store, n: int) -> bool:
    return len((await store.list(PODS, "default")).items) == n


async def test_replaces_deleted_and_failed_pods(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    kubelet = await make_kubelet("n1")
    await make_manager(controllers=RS_ONLY)
    await store.create(REPLICASETS, replicaset("web", 3))
    await wait_for(lambda: count_is(store, "web", 3, ready=True), 15)
    first, second = (await pods(store, "web"))[:2]
    await store.delete(PODS, first.name, "default")
    await kubelet.fail_pod(second.name)
    await wait_for(lambda: count_is(store, "web", 3, ready=True), 15)
    names = {p.name for p in await pods(store, "web")}
    assert first.name not in names and second.name not in names


async def test_adopts_matching_orphans_and_releases_relabelled_pods(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await make_kubelet("n1")
    await store.create(PODS, bare_pod("orphan", labels={"app": "web"}))
    await make_manager(controllers=RS_ONLY)
    await store.create(REPLICASETS, replicaset("web", 2))
    await wait_for(lambda: count_is(store, "web", 2), 10)

    async def owned_by_rs() -> bool:
        pod = await store.get(PODS, "orphan", "default")
        ref = pod.metadata.controller_ref()
        return ref is not None and ref.name == "web"

    await wait_for(owned_by_rs, 10)
    assert len(await pods(store, "web")) == 2  # the orphan counted: only one pod created

    def relabel(pod):  # noqa: ANN001, ANN202
        pod.metadata.labels = {"app": "other"}
        return pod

    await store.guaranteed_update(PODS, "orphan", "default", relabel)

    async def released() -> bool:
        pod = await store.get(PODS, "orphan", "default")
        return pod.metadata.controller_ref() is None

    await wait_for(released, 10)
    await wait_for(lambda: count_is(store, "web", 2), 10)


async def test_no_overprovisioning_when_scaled_up_many_times(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    """Reconciles triggered by each pod's events must not double-create (expectations)."""
    await make_kubelet("n1")
    await make_manager(controllers=RS_ONLY)
    await store.create(REPLICASETS, replicaset("web", 40))
    await wait_for(lambda: count_is(store, "web", 40, ready=True), 30)
    assert len((await store.list(PODS, "default")).items) == 40


async def test_its_pods_are_created_pending_with_their_qos_class(store: Store, make_manager: MakeManager) -> None:
    """A pod a controller creates is stored as one sent through the API is (podStrategy.PrepareForCreate):
    ``phase: Pending`` and its QoS class from the first revision, before any scheduler or node."""
    await make_manager(controllers=("replicaset",))
    await store.create(REPLICASETS, replicaset("web", 2))
    await wait_for(lambda: count_is(store, "web", 2), 10)
    for pod in await pods(store, "web"):
        assert pod.status is not None and pod.status.to_dict() == {"phase": "Pending", "qosClass": "BestEffort"}
        assert pod.metadata.resource_version and not pod.spec.node_name


async def test_its_pods_store_their_limits_as_requests_and_the_template_does_not(
    store: Store, make_manager: MakeManager,
) -> None:
    """SetDefaults_Pod applies to the pods a controller creates (their POSTs are decoded with it in
    Kubernetes), never to the template: requests missing under limits are the limits in each pod."""
    await make_manager(controllers=("replicaset",))
    rs = replicaset("lim", 2)
    rs.spec.template.spec.containers[0].resources = ResourceRequirements(limits={"cpu": "200m", "memory": "32Mi"})
    await store.create(REPLICASETS, rs)
    await wait_for(lambda: count_is(store, "lim", 2), 10)
    stored = await store.get(REPLICASETS, "lim", "default")
    assert stored.spec.template.spec.containers[0].resources is not None
    assert stored.spec.template.spec.containers[0].resources.requests is None
    for pod in await pods(store, "lim"):
        resources = pod.spec.containers[0].resources
        assert resources is not None and resources.requests == {"cpu": "200m", "memory": "32Mi"}
        assert pod.status is not None and pod.status.qos_class == "Guaranteed"
