"""An exec probe that hangs must not starve the agent (real Docker Engine).

Docker cannot cancel an exec: a probe whose command outlives ``timeoutSeconds`` keeps a thread of
the runtime busy until the command ends. Before the fix every period started another one, so a few
hanging probes took every thread of the runtime's pool; the engine's health ping queued behind them
and timed out, the runtime was reported down, every pod not ready, and a deleted pod stayed
Terminating (Running, not ready, deletionTimestamp set) for as long as the probes kept coming — what
CI once saw as ``db-0`` Terminating for minutes during a StatefulSet rolling update under load.
Now a probe whose previous run is still going fails without starting another, execs run on a pool
of their own, and the ping on its own thread.
"""

from __future__ import annotations

import docker
import pytest

from kubelite.api.core import Container, ExecAction, Pod, PodSpec, Probe
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import PODS
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent
from tests.helpers import wait_for

from agent.runtime.base import LABEL_NODE, LABEL_POD_NAME
from agent.runtime.docker import DockerRuntime

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

IMAGE = "kubelite/demo:latest"
HANG = 40  # seconds each probe's command runs: far past its 1 s timeout


def pod(name: str, node: str, probe: Probe | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(node_name=node, termination_grace_period_seconds=1, containers=[
                   Container(name="app", image=IMAGE, image_pull_policy="Never", command=["sleep", "3600"],
                             readiness_probe=probe)]))


def probe_processes(client: docker.DockerClient, node: str, name: str) -> int:
    """How many of the probe's commands run in the pod's app container now (``docker top``)."""
    found = [c for c in client.containers.list(filters={"label": [f"{LABEL_NODE}={node}", f"{LABEL_POD_NAME}={name}"]})
             if not c.name.endswith("_POD")]
    if not found:
        return 0
    processes = found[0].top().get("Processes") or []
    return sum(1 for p in processes if f"sleep {HANG}" in " ".join(p))


async def test_a_hanging_exec_probe_neither_piles_up_nor_blocks_a_pod_deletion(
    store: Store, start_agent: StartAgent, docker_node: str, docker_client: docker.DockerClient,
) -> None:
    # a small pool, so that before the fix two hanging probes were enough to take it all
    agent = await start_agent(docker_node, runtime=DockerRuntime(node=docker_node, workers=2))
    hanging = Probe(exec_=ExecAction(command=["sleep", str(HANG)]), period_seconds=1, timeout_seconds=1)
    await store.create(PODS, pod("hang", docker_node, hanging))
    await store.create(PODS, pod("victim", docker_node))

    async def running(name: str) -> bool:
        return (await store.get(PODS, name, "default")).phase == "Running"
    await wait_for(lambda: running("hang"), 60, 0.2, message="hang Running")
    await wait_for(lambda: running("victim"), 60, 0.2, message="victim Running")

    def failed_probes() -> float:
        return agent.metrics.probe_results.labels("readiness", "failure")._value.get()  # noqa: SLF001

    # eight periods of the hanging probe: before the fix, eight commands (and threads) by now
    await wait_for(lambda: failed_probes() >= 8, 60, 0.2, message="eight failed readiness probes")
    assert probe_processes(docker_client, docker_node, "hang") <= 1
    assert agent.health.facts.runtime_error is None, agent.health.facts.runtime_error

    await store.delete(PODS, "victim", "default")

    async def gone() -> bool:
        return "victim" not in {p.name for p in (await store.list(PODS, "default")).items}
    await wait_for(gone, 30, 0.2, message="the deleted pod gone while the probe hangs")
    assert agent.health.facts.runtime_error is None, agent.health.facts.runtime_error
    assert probe_processes(docker_client, docker_node, "hang") <= 1
