"""The HorizontalPodAutoscaler controller's reconcile on the in-memory Store with a fake clock and a
fake metrics source (pod usage is the decision's input, not I/O under test): the scale it writes on
its target, its status and conditions, maxReplicas, the downscale stabilization window, and the
conditions when metrics are missing. Real-etcd tests (the metrics API through the gateway):
tests/controllers/test_hpa.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from kubelite.api import parse_object
from kubelite.api.resources import DEPLOYMENTS, HORIZONTALPODAUTOSCALERS, PODS
from kubelite.storage.memstore import MemStore
from kubelite.util.clock import FakeClock

from controllers.context import ControllerContext, Settings
from controllers.hpa import HorizontalPodAutoscalerController
from controllers.hpa_metrics import MetricsUnavailable, PodUsage
from tests.controllers.objects import bare_pod
from tests.controllers.test_hpa import HPA, deployment
from tests.controllers.unit.conftest import MakeWorld, World
from tests.controllers.unit.kubelet import run_ready

pytestmark = pytest.mark.timeout(30)

KEY = "default/busy"


class FakeMetrics:
    """Pod name → CPU millicores in use, sampled now over 30 s; ``None``: the metrics API is down."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.cpu: dict[str, int] | None = {}

    async def pod_usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        if self.cpu is None:
            raise MetricsUnavailable("the metrics API answered 503")
        return {name: PodUsage(cpu_millis=m, memory_bytes=0, at=self.clock.wall(), window=30.0)
                for name, m in self.cpu.items()}

    async def close(self) -> None:
        return None


class Setup:
    def __init__(self, world: World[HorizontalPodAutoscalerController], clock: FakeClock, metrics: FakeMetrics) -> None:
        self.world, self.store, self.clock, self.metrics = world, world.store, clock, metrics

    async def target(self, replicas: int) -> None:
        """The Deployment ``busy`` asking ``replicas``, and that many of its pods (500m requested), long Ready."""
        d = deployment("1")
        d.spec.replicas = replicas
        await self.store.create(DEPLOYMENTS, d)
        for i in range(replicas):
            pod = await self.store.create(PODS, bare_pod(f"busy-{i}", cpu="500m", labels={"app": "busy"}))
            await run_ready(self.store, pod, since=self.clock.now_seconds() - timedelta(minutes=10))

    async def hpa(self, **spec: Any) -> None:
        doc = {**HPA, "spec": {**HPA["spec"], "maxReplicas": 10, **spec}}  # type: ignore[dict-item]
        doc["spec"].pop("behavior")
        await self.store.create(HORIZONTALPODAUTOSCALERS, parse_object(doc))

    async def replicas(self) -> int:
        return int((await self.store.get(DEPLOYMENTS, "busy", "default")).spec.replicas or 0)

    async def status(self) -> dict[str, Any]:
        doc = (await self.store.get(HORIZONTALPODAUTOSCALERS, "busy", "default")).to_dict()
        return dict(doc.get("status") or {})

    async def condition(self, type_: str) -> tuple[str, str]:
        c = next(c for c in (await self.status()).get("conditions") or [] if c["type"] == type_)
        return c["status"], c["reason"]


@pytest.fixture
async def setup(make_world: MakeWorld) -> Setup:
    clock = FakeClock()
    metrics = FakeMetrics(clock)

    def hpa_controller(ctx: ControllerContext) -> HorizontalPodAutoscalerController:
        return HorizontalPodAutoscalerController(ctx, metrics=metrics)

    world = await make_world(hpa_controller, store=MemStore(clock=clock.now_seconds), clock=clock.now,
                             monotonic=clock.monotonic, settings=replace(Settings(), hpa_downscale_stabilization_seconds=300))
    return Setup(world, clock, metrics)


async def test_scales_up_to_the_utilization_target_and_reports_it(setup: Setup) -> None:
    await setup.target(2)
    await setup.hpa()
    setup.metrics.cpu = {"busy-0": 500, "busy-1": 500}  # 100% of the request; the target is 50%
    result = await setup.world.reconcile(KEY)
    assert await setup.replicas() == 4
    assert result is not None and result.requeue_after == 15.0
    status = await setup.status()
    assert (status.get("currentReplicas"), status.get("desiredReplicas")) == (2, 4)
    assert status.get("lastScaleTime") == "2026-01-01T00:00:00Z" and status.get("observedGeneration") == 1
    [metric] = status.get("currentMetrics") or []
    assert metric["resource"]["current"]["averageUtilization"] == 100
    assert await setup.condition("AbleToScale") == ("True", "SucceededRescale")
    assert await setup.condition("ScalingActive") == ("True", "ValidMetricFound")


async def test_within_tolerance_nothing_changes_and_a_second_sync_writes_nothing(setup: Setup) -> None:
    await setup.target(2)
    await setup.hpa()
    setup.metrics.cpu = {"busy-0": 260, "busy-1": 260}  # 52%: inside the 10% tolerance
    await setup.world.reconcile(KEY)
    assert await setup.replicas() == 2
    status = await setup.status()
    assert (status.get("currentReplicas"), status.get("desiredReplicas")) == (2, 2) and "lastScaleTime" not in status
    before = setup.store.revision
    setup.clock.advance(15)
    await setup.world.reconcile(KEY)
    assert setup.store.revision == before


async def test_max_replicas_limits_the_scale(setup: Setup) -> None:
    await setup.target(2)
    await setup.hpa(maxReplicas=3)
    setup.metrics.cpu = {"busy-0": 2000, "busy-1": 2000}  # 400%: 16 wanted
    await setup.world.reconcile(KEY)
    assert await setup.replicas() == 3
    assert await setup.condition("ScalingLimited") == ("True", "TooManyReplicas")


async def test_scale_down_waits_for_the_stabilization_window(setup: Setup) -> None:
    await setup.target(4)
    await setup.hpa()
    setup.metrics.cpu = {f"busy-{i}": 250 for i in range(4)}  # 50%: stays at 4, remembered
    await setup.world.reconcile(KEY)
    setup.metrics.cpu = {f"busy-{i}": 50 for i in range(4)}  # 10%: 1 would do
    setup.clock.advance(60)
    await setup.world.reconcile(KEY)
    assert await setup.replicas() == 4  # the 4 recommended within the last 300 s still holds
    assert await setup.condition("AbleToScale") == ("True", "ScaleDownStabilized")
    setup.clock.advance(241)
    await setup.world.reconcile(KEY)
    assert await setup.replicas() == 1


async def test_missing_metrics_and_a_missing_target_are_conditions_not_scaling(setup: Setup) -> None:
    await setup.target(2)
    await setup.hpa()
    setup.metrics.cpu = None
    await setup.world.reconcile(KEY)
    assert await setup.replicas() == 2
    assert await setup.condition("ScalingActive") == ("False", "FailedGetResourceMetric")
    await setup.store.delete(DEPLOYMENTS, "busy", "default")
    await setup.world.reconcile(KEY)
    assert await setup.condition("AbleToScale") == ("False", "FailedGetScale")


def test_a_pods_request_counts_its_sidecars_not_its_other_init_containers() -> None:
    """calculatePodRequests sums the app containers and the restartable init containers; a one-off init
    container's request is not a running pod's."""
    from controllers.hpa import pod_sample

    def container(name: str, cpu: str | None, **extra: Any) -> dict[str, Any]:
        return {"name": name, "image": "x", **({"resources": {"requests": {"cpu": cpu}}} if cpu else {}), **extra}

    def pod(*init: dict[str, Any]) -> Any:
        return parse_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                             "spec": {"initContainers": list(init), "containers": [container("app", "200m")]}})

    assert pod_sample(pod(), None, "cpu").request == 200
    assert pod_sample(pod(container("setup", "1")), None, "cpu").request == 200
    assert pod_sample(pod(container("proxy", "50m", restartPolicy="Always")), None, "cpu").request == 250
    # a sidecar without a request: the pod's request is unknown, as an app container's missing one makes it
    assert pod_sample(pod(container("proxy", None, restartPolicy="Always")), None, "cpu").request is None
