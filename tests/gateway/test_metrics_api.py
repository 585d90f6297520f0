"""metrics.k8s.io through the gateway, from real agents' samples, read by the real kubectl (`kubectl top`).

Real parts: etcd, the gateway, in-process agents (sim runtime, whose usage the pod annotations steer;
one test on Docker with a container that burns CPU), kubectl 1.32.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubelite.node.agent_auth import node_token
from kubelite.api.core import Container, Pod, PodSpec, ResourceRequirements
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent, docker_node, docker_runtime, node_name, start_agent  # noqa: F401 - fixtures
from tests.gateway.conftest import Kubectl, gateway_config, stop_or_explain
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(120)
SECRET = "metrics-agent-secret"
GROUP = "/apis/metrics.k8s.io/v1beta1"


@pytest.fixture
async def gateway(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Gateway]:
    secret = tmp_path / "agent-secret"
    secret.write_text(SECRET + "\n")
    gw = Gateway(gateway_config(etcd, agent_secret_file=secret))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


@pytest.fixture
def kubectl(gateway: Gateway, tmp_path: Path) -> Kubectl:
    home = tmp_path / "kubectl-home"
    home.mkdir()
    return Kubectl(gateway.url, home)


def pod(name: str, node: str, *, annotations: dict[str, str], containers: tuple[str, ...] = ("app",),
        labels: dict[str, str] | None = None, command: list[str] | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default", annotations=annotations, labels=labels or {}),
               spec=PodSpec(containers=[Container(name=c, image="kubelite/demo:latest",
                                                  command=command or ["sleep", "3600"],
                                                  resources=ResourceRequirements(requests={"cpu": "100m"}))
                                        for c in containers],
                            node_name=node, termination_grace_period_seconds=1))


async def get_json(http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
    async with http.get(path) as r:
        return r.status, await r.json()


async def test_node_and_pod_metrics_follow_the_steered_usage(
    store: Store, gateway: Gateway, start_agent: StartAgent, kubectl: Kubectl,
) -> None:
    agents = [await start_agent(node, token=node_token(SECRET, node), stats_interval=0.5)
              for node in ("node-a", "node-b")]
    await store.create(PODS, pod("web-1", "node-a", labels={"app": "web"}, containers=("app", "side"),
                                 annotations={"sim.kubelite.io/cpu": "750m", "sim.kubelite.io/memory": "64Mi",
                                              "sim.kubelite.io/cpu.side": "100m"}))
    await store.create(PODS, pod("db-1", "node-b", labels={"app": "db"},
                                 annotations={"sim.kubelite.io/cpu": "2", "sim.kubelite.io/memory": "1Gi"}))
    async with aiohttp.ClientSession(base_url=gateway.url) as http:
        async def both_pods() -> dict[str, Any] | None:
            code, doc = await get_json(http, f"{GROUP}/namespaces/default/pods")
            items = {i["metadata"]["name"]: i for i in doc.get("items", [])} if code == 200 else {}
            return items if set(items) == {"web-1", "db-1"} else None

        items = await wait_for(both_pods, 30, message="metrics of both pods")
        web = {c["name"]: c["usage"] for c in items["web-1"]["containers"]}
        # the pod's 750m is split over its two containers; the per-container annotation wins for `side`
        assert abs(cpu_millis(web["app"]["cpu"]) - 375) <= 2 and abs(cpu_millis(web["side"]["cpu"]) - 100) <= 2, web
        assert web["app"]["memory"] == "32Mi" and items["db-1"]["containers"][0]["usage"]["memory"] == "1Gi"
        assert items["web-1"]["metadata"]["labels"] == {"app": "web"}
        assert re.fullmatch(r"\d+(\.\d+)?s", items["web-1"]["window"]) and items["web-1"]["timestamp"].endswith("Z")

        code, selected = await get_json(http, f"{GROUP}/pods?labelSelector=app%3Ddb")
        assert code == 200 and [i["metadata"]["name"] for i in selected["items"]] == ["db-1"]
        code, one = await get_json(http, f"{GROUP}/namespaces/default/pods/db-1")
        assert code == 200 and one["kind"] == "PodMetrics" and abs(cpu_millis(one["containers"][0]["usage"]["cpu"]) - 2000) <= 5
        code, missing = await get_json(http, f"{GROUP}/namespaces/default/pods/nope")
        assert code == 404 and missing["message"] == 'podmetrics.metrics.k8s.io "default/nope" not found'
        code, _ = await get_json(http, f"{GROUP}/namespaces/kube-system/pods")
        assert code == 200

        code, node_b = await get_json(http, f"{GROUP}/nodes/node-b")
        assert code == 200 and node_b["kind"] == "NodeMetrics" and node_b["usage"]["memory"] == "1Gi"
        code, nodes = await get_json(http, f"{GROUP}/nodes")
        assert sorted(i["metadata"]["name"] for i in nodes["items"]) == ["node-a", "node-b"]
        async with http.get(f"{GROUP}/nodes?watch=1") as r:
            assert r.status == 405

        # discovery, as kubectl reads it (`kubectl top` checks the group first)
        code, groups = await get_json(http, "/apis")
        assert {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"} in [
            v for g in groups["groups"] for v in g["versions"]]

        # a changed annotation shows in the next samples
        current = await store.get(PODS, "db-1", "default")
        current.metadata.annotations = {"sim.kubelite.io/cpu": "250m", "sim.kubelite.io/memory": "1Gi"}
        await store.update(PODS, current)

        async def lowered() -> bool:
            code, doc = await get_json(http, f"{GROUP}/namespaces/default/pods/db-1")
            return code == 200 and abs(cpu_millis(doc["containers"][0]["usage"]["cpu"]) - 250) <= 5

        await wait_for(lowered, 20, message="db-1 at 250m")

    # the agent's /metrics carries the kubelet's resource metric names too
    assert agents[0].api is not None
    async with aiohttp.ClientSession() as direct:
        async with direct.get(f"{agents[0].api.endpoint}/metrics",
                              headers={"Authorization": f"Bearer {node_token(SECRET, 'node-a')}"}) as r:
            text = await r.text()
    assert 'container_cpu_usage_seconds_total{container="side",namespace="default",pod="web-1"}' in text
    assert 'container_memory_working_set_bytes{container="app",namespace="default",pod="web-1"} 3.3554432e+07' in text
    assert "node_cpu_usage_seconds_total " in text and "node_memory_working_set_bytes 6.7108864e+07" in text

    top_nodes = (await kubectl("top", "nodes")).stdout.splitlines()
    assert top_nodes[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert [line.split()[0] for line in top_nodes[1:]] == ["node-a", "node-b"]
    top_pods = (await kubectl("top", "pods", "--containers", "-A")).stdout.splitlines()
    assert top_pods[0].split() == ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows = {tuple(line.split()[1:3]): line.split()[3:] for line in top_pods[1:]}
    assert rows[("web-1", "side")] == ["100m", "32Mi"] and rows[("db-1", "app")][1] == "1024Mi", top_pods
    top_selected = (await kubectl("top", "pods", "-l", "app=web")).stdout.splitlines()
    assert [line.split()[0] for line in top_selected[1:]] == ["web-1"]
    # `kubectl get` asks for metrics-server's Table: NAME CPU MEMORY WINDOW, usage summed over containers
    got = (await kubectl("get", "podmetrics", "web-1")).stdout.splitlines()
    assert got[0].split() == ["NAME", "CPU", "MEMORY", "WINDOW"] and got[1].split()[2] == "64Mi", got
    assert (await kubectl("get", "nodemetrics")).stdout.splitlines()[0].split() == ["NAME", "CPU", "MEMORY", "WINDOW"]


def cpu_millis(quantity: str) -> float:
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    return float(quantity[:-1]) * units[quantity[-1]] if quantity[-1] in units else float(quantity) * 1000


@pytest.mark.docker
async def test_kubectl_top_on_a_real_container(
    store: Store, gateway: Gateway, start_agent: StartAgent, docker_node: str, kubectl: Kubectl,
) -> None:
    await start_agent(docker_node, runtime=docker_runtime(docker_node), token=node_token(SECRET, docker_node),
                      stats_interval=1.0)
    burner = pod("burner", docker_node, annotations={}, command=["sh", "-c", "while :; do :; done"])
    await store.create(PODS, burner)

    async def busy() -> list[str] | None:
        result = await kubectl("top", "pods", "burner", "--no-headers", check=False)
        fields = result.stdout.split()
        return fields if result.returncode == 0 and len(fields) == 3 and cpu_millis(fields[1]) >= 300 else None

    name, cpu, memory = await wait_for(busy, 60, interval=1.0, message="the busy loop's CPU in kubectl top")
    assert name == "burner" and memory.endswith(("Mi", "Ki")), (cpu, memory)
    nodes = (await kubectl("top", "nodes", "--no-headers")).stdout.split()
    # the host runs the busy loop and the rest of the machine: at least that much CPU, some memory
    assert nodes[0] == docker_node and cpu_millis(nodes[1]) >= 300 and nodes[3].endswith("Mi"), nodes
    assert json.loads((await kubectl("get", "--raw", f"{GROUP}/nodes/{docker_node}")).stdout)["kind"] == "NodeMetrics"
