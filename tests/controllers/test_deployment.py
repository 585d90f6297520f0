"""Deployment controller against real etcd with fake kubelets: rollouts, Recreate, rollback,
pause, progress deadline, restartedAt, history limit, status for kubectl rollout status."""

from __future__ import annotations

from typing import Any

from kubelite.api.apps import Deployment
from kubelite.api.core import ResourceRequirements
from kubelite.api.resources import DEPLOYMENTS, EVENTS, REPLICASETS
from kubelite.storage.store import Store

from controllers import rollout
from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import deployment, pods, running_ready
from tests.helpers import wait_for

CONTROLLERS = ("scheduler", "replicaset", "deployment")


def not_broken(pod: Any) -> bool:
    return pod.spec.containers[0].image != "broken:1"


async def setup(store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet) -> None:
    await make_kubelet("n1", ready=not_broken)
    await make_kubelet("n2", ready=not_broken)
    await make_manager(controllers=CONTROLLERS)


async def rollout_complete(store: Store, name: str, replicas: int, image: str | None = None) -> bool:
    """What `kubectl rollout status` checks, plus the pods themselves."""
    d: Deployment = await store.get(DEPLOYMENTS, name, "default")
    s = d.status
    if s is None or (s.observed_generation or 0) < (d.metadata.generation or 0):
        return False
    if (s.updated_replicas, s.replicas, s.available_replicas, s.ready_replicas) != (replicas,) * 4:
        return False
    ready = await running_ready(store, name)
    live = await pods(store, name)
    if len(ready) != replicas or len(live) != replicas:
        return False
    progressing = s.condition("Progressing")
    return (progressing is not None and progressing.reason == "NewReplicaSetAvailable"
            and (image is None or all(p.spec.containers[0].image == image for p in live)))


def set_image(image: str) -> Any:
    def mutate(d: Deployment) -> Deployment:
        assert d.spec.template and d.spec.template.spec
        d.spec.template.spec.containers[0].image = image
        return d
    return mutate


def spelled_out(mutate: Any) -> Any:
    """The same change, with the empty fields Go's JSON encoding writes for a template."""
    def spelled(d: Deployment) -> Deployment:
        d = mutate(d)
        assert d.spec.template and d.spec.template.spec
        d.spec.template.spec.containers[0].resources = ResourceRequirements()
        d.spec.template.spec.containers[0].env = []
        return d
    return spelled


async def rs_list(store: Store, name: str) -> list[Any]:
    return [rs for rs in (await store.list(REPLICASETS, "default")).items if rs.name.startswith(f"{name}-")]


async def test_create_scale_and_rolling_update_within_surge(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await setup(store, make_manager, make_kubelet)
    await store.create(DEPLOYMENTS, deployment("web", 4, max_surge=1, max_unavailable=0))
    await wait_for(lambda: rollout_complete(store, "web", 4), 20)
    (first,) = await rs_list(store, "web")
    assert first.metadata.annotations[rollout.REVISION] == "1"
    assert first.metadata.labels[rollout.HASH_LABEL] == first.name.removeprefix("web-")

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", set_image("demo:2"))
    peak = 0

    async def done_watching_peak() -> bool:
        nonlocal peak
        peak = max(peak, len(await pods(store, "web")))
        ready = len(await running_ready(store, "web"))
        assert ready >= 4, "maxUnavailable 0: never fewer than 4 ready pods"
        return await rollout_complete(store, "web", 4, "demo:2")

    await wait_for(done_watching_peak, 30, interval=0.02)
    assert peak <= 5, f"at most replicas + maxSurge pods at once, saw {peak}"
    rss = await rs_list(store, "web")
    assert sorted(rs.metadata.annotations[rollout.REVISION] for rs in rss) == ["1", "2"]
    assert [rs.spec.replicas for rs in rss if rs.name == first.name] == [0]

    def scale(d: Deployment) -> Deployment:
        d.spec.replicas = 2
        return d

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", scale)
    await wait_for(lambda: rollout_complete(store, "web", 2, "demo:2"), 20)
    reasons = {e.reason for e in (await store.list(EVENTS, "default")).items if e.involved_object.kind == "Deployment"}
    assert "ScalingReplicaSet" in reasons


async def test_recreate_stops_old_pods_before_new_ones(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await setup(store, make_manager, make_kubelet)
    await store.create(DEPLOYMENTS, deployment("db", 3, strategy="Recreate"))
    await wait_for(lambda: rollout_complete(store, "db", 3), 20)
    await store.guaranteed_update(DEPLOYMENTS, "db", "default", set_image("demo:2"))
    mixed = False

    async def check() -> bool:
        nonlocal mixed
        images = {p.spec.containers[0].image for p in await pods(store, "db", active_only=False)}
        mixed = mixed or images == {"demo:1", "demo:2"}
        return await rollout_complete(store, "db", 3, "demo:2")

    await wait_for(check, 30, interval=0.02)
    assert not mixed, "Recreate never runs old and new pods together"


async def test_rollback_by_template_and_by_annotation(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await setup(store, make_manager, make_kubelet)
    await store.create(DEPLOYMENTS, deployment("web", 2))
    await wait_for(lambda: rollout_complete(store, "web", 2), 20)
    await store.guaranteed_update(DEPLOYMENTS, "web", "default", set_image("demo:2"))
    await wait_for(lambda: rollout_complete(store, "web", 2, "demo:2"), 20)
    d = await store.get(DEPLOYMENTS, "web", "default")
    assert d.metadata.annotations[rollout.REVISION] == "2"
    # rollout undo as kubectl does it: the old template back, spelled as Go marshals it
    # (`resources: {}`), which must still match the old ReplicaSet's template
    await store.guaranteed_update(DEPLOYMENTS, "web", "default", spelled_out(set_image("demo:1")))
    await wait_for(lambda: rollout_complete(store, "web", 2, "demo:1"), 20)
    rss = await rs_list(store, "web")
    assert len(rss) == 2, "the old ReplicaSet is reused, not a new one created"
    revisions = {rs.spec.template.spec.containers[0].image: rs.metadata.annotations[rollout.REVISION] for rs in rss}
    assert revisions == {"demo:1": "3", "demo:2": "2"}
    reused = next(rs for rs in rss if rs.spec.template.spec.containers[0].image == "demo:1")
    assert reused.metadata.annotations[rollout.REVISION_HISTORY] == "1"
    d = await store.get(DEPLOYMENTS, "web", "default")
    assert d.metadata.annotations[rollout.REVISION] == "3"
    events = (await store.list(EVENTS, "default")).items
    assert any(e.reason == "DeploymentRollback" and "revision 1" in (e.message or "") for e in events)

    def annotate(d: Deployment) -> Deployment:
        d.metadata.annotations = {rollout.ROLLBACK_TO: "2"}
        return d

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", annotate)
    await wait_for(lambda: rollout_complete(store, "web", 2, "demo:2"), 20)
    d = await store.get(DEPLOYMENTS, "web", "default")
    assert rollout.ROLLBACK_TO not in (d.metadata.annotations or {})
    await wait_for(lambda: _deployment_revision(store, "web", "4"), 20)

    def to_current(d: Deployment) -> Deployment:
        d.metadata.annotations = {**(d.metadata.annotations or {}), rollout.ROLLBACK_TO: "4"}
        return d

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", to_current)

    async def unchanged_reported() -> bool:
        events = (await store.list(EVENTS, "default")).items
        return any(e.reason == "DeploymentRollbackTemplateUnchanged" for e in events)

    await wait_for(unchanged_reported, 20)
    assert len(await rs_list(store, "web")) == 2


async def _deployment_revision(store: Store, name: str, revision: str) -> bool:
    d = await store.get(DEPLOYMENTS, name, "default")
    return bool((d.metadata.annotations or {}).get(rollout.REVISION) == revision)


async def test_paused_deployment_does_not_roll_out_until_resumed(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await setup(store, make_manager, make_kubelet)
    await store.create(DEPLOYMENTS, deployment("web", 2))
    await wait_for(lambda: rollout_complete(store, "web", 2), 20)

    def pause_and_change(d: Deployment) -> Deployment:
        d.spec.paused = True
        assert d.spec.template and d.spec.template.spec
        d.spec.template.spec.containers[0].image = "demo:2"
        return d

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", pause_and_change)

    async def paused_condition() -> bool:
        d = await store.get(DEPLOYMENTS, "web", "default")
        c = d.status.condition("Progressing") if d.status else None
        return c is not None and c.reason == "DeploymentPaused" and d.status.observed_generation == d.metadata.generation

    await wait_for(paused_condition, 10)
    assert len(await rs_list(store, "web")) == 1
    assert {p.spec.containers[0].image for p in await pods(store, "web")} == {"demo:1"}

    def resume(d: Deployment) -> Deployment:
        d.spec.paused = None
        return d

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", resume)
    await wait_for(lambda: rollout_complete(store, "web", 2, "demo:2"), 20)


async def test_progress_deadline_exceeded_when_new_pods_never_become_ready(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await setup(store, make_manager, make_kubelet)
    await store.create(DEPLOYMENTS, deployment("web", 2, progress_deadline=2, max_unavailable=0))
    await wait_for(lambda: rollout_complete(store, "web", 2), 20)
    await store.guaranteed_update(DEPLOYMENTS, "web", "default", set_image("broken:1"))

    async def exceeded() -> Any:
        d = await store.get(DEPLOYMENTS, "web", "default")
        c = d.status.condition("Progressing") if d.status else None
        return c if c is not None and c.reason == "ProgressDeadlineExceeded" else None

    condition = await wait_for(exceeded, 15)
    assert condition.status == "False" and "has timed out progressing" in condition.message
    assert len(await running_ready(store, "web")) == 2  # old pods kept serving (maxUnavailable 0)


async def test_restarted_at_annotation_rolls_out_and_history_limit_prunes(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await setup(store, make_manager, make_kubelet)
    await store.create(DEPLOYMENTS, deployment("web", 1, history=1))
    await wait_for(lambda: rollout_complete(store, "web", 1), 20)
    for i in range(3):
        def restart(d: Deployment, i: int = i) -> Deployment:
            assert d.spec.template and d.spec.template.metadata
            d.spec.template.metadata.annotations = {"kubectl.kubernetes.io/restartedAt": f"2026-01-01T00:00:0{i}Z"}
            return d
        await store.guaranteed_update(DEPLOYMENTS, "web", "default", restart)
        await wait_for(lambda i=i: _restarted(store, i), 20)
        await wait_for(lambda: rollout_complete(store, "web", 1), 20)
    await wait_for(lambda: _rs_count(store, 2), 10)  # the current one + revisionHistoryLimit 1


async def _restarted(store: Store, i: int) -> bool:
    live = await pods(store, "web")
    return bool(live) and all((p.metadata.annotations or {}).get("kubectl.kubernetes.io/restartedAt", "")
                              .endswith(f"0{i}Z") for p in live)


async def _rs_count(store: Store, n: int) -> bool:
    return len(await rs_list(store, "web")) == n
