"""End to end on the sim runtime: an HPA scales a Deployment up under steered CPU usage and back down after
its (shortened) scale-down stabilization window.

Real parts: etcd, the gateway (its metrics.k8s.io fans out to the agents), two sim agents sampling usage
every 0.5 s, and a controller-manager running the scheduler, ReplicaSet, Deployment and HPA controllers
(the HPA syncing every second and reading metrics through the gateway, as `kl up` wires it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kubelite.node.agent_auth import node_token
from kubelite.api import parse_object
from kubelite.api.resources import DEPLOYMENTS, EVENTS, HORIZONTALPODAUTOSCALERS, PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent, start_agent  # noqa: F401 - the agents fixture
from tests.controllers.conftest import FAST, MakeManager
from tests.gateway.conftest import gateway_config, stop_or_explain
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(180)
SECRET = "hpa-agent-secret"


@pytest.fixture
async def gateway(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Gateway]:
    secret = tmp_path / "agent-secret"
    secret.write_text(SECRET)
    gw = Gateway(gateway_config(etcd, agent_secret_file=secret))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


def deployment(cpu: str) -> Any:
    return parse_object({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "busy", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "busy"}}, "template": {
            "metadata": {"labels": {"app": "busy"}, "annotations": {"sim.kubelite.io/cpu": cpu}},
            "spec": {"containers": [{"name": "c", "image": "kubelite/demo:latest",
                                     "resources": {"requests": {"cpu": "500m"}}}]}}}})


HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "busy", "namespace": "default"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
                "minReplicas": 1, "maxReplicas": 4,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": 50}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 4}}}}


async def test_hpa_scales_up_under_load_and_down_after_the_window(
    store: Store, gateway: Gateway, start_agent: StartAgent, make_manager: MakeManager,
) -> None:
    for node in ("node-a", "node-b"):
        await start_agent(node, token=node_token(SECRET, node), stats_interval=0.5)
    settings = replace(FAST, hpa_sync_seconds=1.0, metrics_api_server=gateway.url)
    manager = await make_manager(settings=settings, controllers=("scheduler", "replicaset", "deployment",
                                                                 "horizontalpodautoscaling"))
    await store.create(DEPLOYMENTS, deployment("750m"))  # 150 % of its request, against a 50 % target
    await store.create(HORIZONTALPODAUTOSCALERS, parse_object(HPA))

    async def replicas(wanted: int) -> bool:
        return (await store.get(DEPLOYMENTS, "busy", "default")).spec.replicas == wanted

    async def hpa_status(desired: int) -> dict[str, Any] | None:
        status = (await store.get(HORIZONTALPODAUTOSCALERS, "busy", "default")).to_dict().get("status") or {}
        return status if status.get("desiredReplicas") == desired and status.get("currentReplicas") == desired else None

    await wait_for(lambda: replicas(4), 60, message="scaled up to maxReplicas")
    status = await wait_for(lambda: hpa_status(4), 30, message="the HPA's status at 4 replicas")
    assert status["lastScaleTime"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["ScalingActive"] == ("True", "ValidMetricFound"), conditions
    assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] >= 140
    rescaled = [e for e in (await store.list(EVENTS, "default")).items if e.reason == "SuccessfulRescale"]
    assert any("above target" in (e.message or "") for e in rescaled), [e.message for e in rescaled]

    # the manager's Prometheus names: client-go's workqueue metrics per controller, pods by phase per node
    text = manager.metrics.render().decode()
    assert 'workqueue_adds_total{name="horizontalpodautoscaling"}' in text
    assert 'workqueue_queue_duration_seconds_bucket{le="1e-08",name="replicaset"}' in text
    assert 'workqueue_work_duration_seconds_count{name="deployment"}' in text and "workqueue_depth{" in text
    running = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("kubelite_pods{") and 'phase="Running"' in line)
    assert running >= 1, [line for line in text.splitlines() if line.startswith("kubelite_pods")]

    # the load goes away: every pod now uses 50m (10 %)
    dropped = time.monotonic()
    for pod in (await store.list(PODS, "default")).items:
        pod.metadata.annotations = {**(pod.metadata.annotations or {}), "sim.kubelite.io/cpu": "50m"}
        await store.update(PODS, pod)

    async def scaled_down_after_window() -> bool:
        return await replicas(1)

    await wait_for(scaled_down_after_window, 60, interval=0.1, message="scaled down to minReplicas")
    # not before the 4 s stabilization window had passed over the last high recommendation (made before the drop)
    assert time.monotonic() - dropped >= 3.5

    async def scale_down_event() -> bool:  # the recorder writes Events after the scale, from its own queue
        events = [e.message for e in (await store.list(EVENTS, "default")).items if e.reason == "SuccessfulRescale"]
        return any("New size: 1; reason: All metrics below target" in (m or "") for m in events)
    await wait_for(scale_down_event, 15, message="the SuccessfulRescale Event of the scale down")


async def test_hpa_reports_a_missing_target_and_missing_metrics(store: Store, make_manager: MakeManager) -> None:
    from controllers.hpa import scale_target

    assert [scale_target({"apiVersion": v, "kind": k}).plural for v, k in (  # type: ignore[union-attr]
        ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet"), ("v1", "ReplicationController"))] \
        == ["deployments", "replicasets", "statefulsets", "replicationcontrollers"]
    assert scale_target({"apiVersion": "v1", "kind": "Pod"}) is None
    # no --metrics-api-server: the HPA says so instead of scaling
    await make_manager(settings=replace(FAST, hpa_sync_seconds=1.0), controllers=("horizontalpodautoscaling",))
    missing = {**HPA, "metadata": {"name": "orphan", "namespace": "default"},
               "spec": {**HPA["spec"], "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"}}}
    await store.create(HORIZONTALPODAUTOSCALERS, parse_object(missing))
    await store.create(DEPLOYMENTS, deployment("750m"))
    await store.create(HORIZONTALPODAUTOSCALERS, parse_object(HPA))

    async def condition(name: str, kind: str) -> tuple[str, str, str] | None:
        status = (await store.get(HORIZONTALPODAUTOSCALERS, name, "default")).to_dict().get("status") or {}
        found = [(c["status"], c["reason"], c["message"]) for c in status.get("conditions") or [] if c["type"] == kind]
        return found[0] if found else None

    able = await wait_for(lambda: condition("orphan", "AbleToScale"), 30, message="FailedGetScale reported")
    assert able[:2] == ("False", "FailedGetScale") and 'deployments "nope" not found' in able[2]
    active = await wait_for(lambda: condition("busy", "ScalingActive"), 30, message="ScalingActive reported")
    assert active[:2] == ("False", "FailedGetResourceMetric") and "no metrics API is configured" in active[2], active
    assert (await store.get(DEPLOYMENTS, "busy", "default")).spec.replicas == 1  # nothing scaled without metrics
