"""Two clusters on one container engine: agents touch only their own cluster's containers.

Both clusters name their node the same (as two ``kl up`` do: ``node-1``); each
agent labels its containers with its cluster's uid (the kube-system Namespace
uid in its own etcd) and lists, adopts, fences and drains only those.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import docker
import pytest

from kubelite.api.resources import NAMESPACES, PODS
from kubelite.client.bootstrap import cluster_uid, ensure_system_namespaces
from kubelite.cli.up_support import remove_containers
from kubelite.etcd.client import EtcdConfig, connect
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent, agent_config, docker_runtime
from tests.agent.test_rediscovery_and_lease import running, sleeper
from tests.helpers import wait_for

from agent.agent import Agent
from agent.runtime.base import LABEL_CLUSTER, LABEL_CONTAINER, LABEL_NODE, LABEL_POD_NAME, LABEL_POD_UID, ContainerSpec
from agent.runtime.sim import SimRuntime


async def test_cluster_uid_is_the_kube_system_uid_and_stable(store: Store) -> None:
    first = await cluster_uid(store)
    assert first == (await store.get(NAMESPACES, "kube-system")).metadata.uid
    assert await cluster_uid(store) == first  # kept, not made again


def running_ids(client: docker.DockerClient, node: str, pod: str) -> set[str]:
    return {c.id for c in client.containers.list(
        filters={"label": [f"{LABEL_NODE}={node}", f"{LABEL_POD_NAME}={pod}"]})}


@pytest.mark.docker
async def test_two_clusters_same_node_name_one_engine(
    store: Store, start_agent: StartAgent, docker_node: str, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    node = docker_node
    await start_agent(node, runtime=docker_runtime(node))
    await store.create(PODS, sleeper("a-pod", node))
    await wait_for(lambda: running(store, "a-pod"), 30, message="cluster A's pod running")
    a_ids = running_ids(docker_client, node, "a-pod")
    assert len(a_ids) == 2
    a_uid = await cluster_uid(store)
    assert {docker_client.containers.get(i).labels[LABEL_CLUSTER] for i in a_ids} == {a_uid}

    # Cluster B: its own etcd, an agent with the same node name on the same engine.
    etcd_b = EmbeddedEtcd(data_dir=tmp_path / "etcd-b")
    await etcd_b.start()
    client_b = await connect(EtcdConfig(endpoints=(etcd_b.endpoint,), timeout=3.0))
    agent_b = Agent(agent_config(node), store=Store(client_b), runtime=docker_runtime(node))
    try:
        store_b = Store(client_b)
        await ensure_system_namespaces(store_b)  # the control plane's: an agent only reads kube-system
        await agent_b.start()
        assert agent_b.pods.gate.is_set()  # rediscovery ran, and saw none of A's containers
        assert await cluster_uid(store_b) != a_uid
        await store_b.create(PODS, sleeper("b-pod", node))
        await wait_for(lambda: running(store_b, "b-pod"), 30, message="cluster B's pod running")
        await agent_b.pods.rediscover()  # B's fencing pass again (awaited), with A's containers present
        assert running_ids(docker_client, node, "a-pod") == a_ids
        # B drains on exit, like `kl up` on Ctrl-C: only B's containers go.
        await agent_b.pods.stop(drain=True)
        assert running_ids(docker_client, node, "b-pod") == set()
        assert running_ids(docker_client, node, "a-pod") == a_ids
    finally:
        await asyncio.wait_for(agent_b.stop(), 30)
        await client_b.close()
        await etcd_b.stop()
    pod = await running(store, "a-pod")
    assert pod is not None and pod.status.container_statuses[0].restart_count == 0


async def legacy(runtime: SimRuntime, node: str, pod: str, uid: str) -> str:
    """A container as an older kubelite made it: node and pod labels, no cluster label."""
    labels = {LABEL_NODE: node, LABEL_POD_NAME: pod, LABEL_POD_UID: uid, LABEL_CONTAINER: "app"}
    cid = await runtime.create_container(ContainerSpec(name=f"legacy-{pod}", image="x", labels=labels))
    await runtime.start_container(cid)
    return cid


async def test_legacy_containers_removed_only_when_provably_ours(
    store: Store, start_agent: StartAgent, node_name: str,
) -> None:
    runtime = SimRuntime(node=node_name)
    pod = await store.create(PODS, sleeper("upgraded", node_name))
    ours = await legacy(runtime, node_name, "upgraded", pod.metadata.uid or "")
    foreign = await legacy(runtime, node_name, "someone-elses", "0b5e6f3a-not-a-pod-of-this-cluster")
    await start_agent(node_name, runtime=runtime)
    await wait_for(lambda: running(store, "upgraded"), 10, message="pod running in labelled containers")
    ids = {c.id for c in runtime.containers_info()}
    assert ours not in ids  # its pod is ours: replaced by labelled containers
    assert foreign in ids  # not provably ours: never touched
    uid = await cluster_uid(store)
    assert {c.labels.get(LABEL_CLUSTER) for c in runtime.containers_info() if c.id != foreign} == {uid}


class SharedEngine:
    """B's handle on A's simulated engine: stopping B's agent must not stop the engine itself."""

    def __init__(self, engine: SimRuntime) -> None:
        self.engine = engine

    def __getattr__(self, name: str) -> object:
        return getattr(self.engine, name)

    async def stop(self) -> None:
        return None


async def test_shared_engine_sim_agents_of_two_clusters(
    store: Store, start_agent: StartAgent, node_name: str, tmp_path: Path,
) -> None:
    """The same property without Docker, both agents on one simulated engine, B restarting (fencing) twice."""
    engine = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=engine)
    await store.create(PODS, sleeper("a", node_name))
    await wait_for(lambda: running(store, "a"), 10, message="A's pod running")
    before = {c.id for c in engine.containers_info()}
    etcd_b = EmbeddedEtcd(data_dir=tmp_path / "etcd-b")
    await etcd_b.start()
    client_b = await connect(EtcdConfig(endpoints=(etcd_b.endpoint,), timeout=3.0))
    try:
        for attempt in range(2):
            agent_b = Agent(agent_config(node_name, drain_on_exit=True), store=Store(client_b),
                            runtime=SharedEngine(engine))  # type: ignore[arg-type]
            starting = asyncio.create_task(agent_b.start())
            if attempt == 0:  # B's etcd is empty: the agent waits for the control plane to make kube-system
                await ensure_system_namespaces(Store(client_b))
            await asyncio.wait_for(starting, 30)
            assert agent_b.runtime.cluster_uid == await cluster_uid(Store(client_b))
            await agent_b.stop()  # drains
        assert before <= {c.id for c in engine.containers_info() if c.state == "running"}
    finally:
        await client_b.close()
        await etcd_b.stop()


@pytest.mark.docker
def test_kl_up_cleanup_removes_only_its_clusters_containers(
    docker_client: docker.DockerClient, demo_image: str, node_name: str,
) -> None:
    """`kl up`'s Ctrl-C clean-up (remove_containers) on an engine shared with another cluster."""
    made = {}
    for who, extra in (("ours", {LABEL_CLUSTER: "uid-ours"}), ("theirs", {LABEL_CLUSTER: "uid-theirs"}),
                       ("legacy", {})):
        made[who] = docker_client.containers.create(
            demo_image, ["sleep", "60"], labels={LABEL_NODE: node_name, **extra}).id
    try:
        assert remove_containers([node_name], "uid-ours") == []
        left = {c.id for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node_name}"})}
        assert left == {made["theirs"], made["legacy"]}
        with pytest.raises(ValueError):
            remove_containers([node_name], "")  # no identity: nothing is provably ours
    finally:
        for cid in made.values():
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.api.remove_container(cid, force=True)
