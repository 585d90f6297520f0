"""Rediscovery after an agent restart (docker and oci), and the node lease lost and regained (sim)."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES, NODES, PODS
from kubelite.etcd.ops import range_
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent
from tests.agent.runtimes import RuntimeNode
from tests.helpers import wait_for

from agent.runtime.base import LABEL_POD_NAME
from agent.runtime.sim import SimRuntime


def sleeper(name: str, node: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(containers=[Container(name="app", image="kubelite/demo:latest", command=["sleep", "3600"])],
                            node_name=node, termination_grace_period_seconds=1))


async def running(store: Store, name: str) -> Pod | None:
    pod = await store.get(PODS, name, "default")
    return pod if pod.phase == "Running" and pod.is_ready() else None


async def ids_by_pod(runtime_node: RuntimeNode) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for c in await runtime_node.containers():
        result.setdefault(c.labels[LABEL_POD_NAME], set()).add(c.id)
    return result


@pytest.mark.docker
async def test_restarted_agent_adopts_containers_and_removes_orphans(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    node = runtime_node.node
    first = await start_agent(node, runtime=runtime_node.make())
    await store.create(PODS, sleeper("keep", node))
    await store.create(PODS, sleeper("drop", node))
    await wait_for(lambda: running(store, "keep"), 30, message="keep running")
    await wait_for(lambda: running(store, "drop"), 30, message="drop running")
    before = await ids_by_pod(runtime_node)
    assert len(before["keep"]) == 2 and len(before["drop"]) == 2  # sandbox + app
    await first.stop()  # like a kubelet restart: containers keep running
    assert await ids_by_pod(runtime_node) == before
    await store.delete(PODS, "drop", "default", grace_period_seconds=0)  # gone while the agent was down

    await start_agent(node, runtime=runtime_node.make())

    async def dropped() -> bool:
        return "drop" not in await ids_by_pod(runtime_node)

    await wait_for(dropped, 20, message="orphans removed")
    assert await ids_by_pod(runtime_node) == {"keep": before["keep"]}  # adopted: no duplicates
    pod = await wait_for(lambda: running(store, "keep"), 10, message="keep still running")
    assert pod.status.container_statuses[0].restart_count == 0
    states = {c.container_name: c.state for c in await runtime_node.containers()}
    assert states == {"POD": "running", "app": "running"}


async def lease_id_of_key(store: Store, node: str) -> int:
    response = await range_(store.client, LEASES.key(node, "kube-node-lease"), what="lease key")
    return response.kvs[0].lease if response.kvs else 0


async def test_revoked_lease_is_replaced_and_node_stays_registered(
    store: Store, start_agent: StartAgent, node_name: str,
) -> None:
    agent = await start_agent(node_name, lease_ttl=3)
    old = agent.node.session.lease_id
    assert await lease_id_of_key(store, node_name) == old
    await store.client.revoke_lease(old)  # the key vanishes with it
    assert await lease_id_of_key(store, node_name) == 0

    async def new_lease() -> int:
        lease = await lease_id_of_key(store, node_name)
        return lease if lease not in (0, old) else 0

    new = await wait_for(new_lease, 10, message="a new lease attached to the node lease key")
    assert agent.node.session.lease_id == new and agent.node.sessions == 2
    assert (await store.get(NODES, node_name)).is_ready()
    assert agent.healthy()


async def test_etcd_outage_longer_than_ttl_then_rediscovery(
    store: Store, etcd: EmbeddedEtcd, start_agent: StartAgent, node_name: str,
) -> None:
    runtime = SimRuntime(node=node_name)
    agent = await start_agent(node_name, runtime=runtime, lease_ttl=2)
    await store.create(PODS, sleeper("survivor", node_name))
    await wait_for(lambda: running(store, "survivor"), 10, message="running")
    containers_before = {c.id for c in runtime.containers_info()}
    old = agent.node.session.lease_id
    await etcd.kill()
    await wait_for(lambda: not agent.healthy(), 10, message="lease lost while etcd is down")
    assert not agent.pods.gate.is_set()  # nothing starts until rediscovery
    await etcd.start()
    await wait_for(lambda: agent.healthy() and agent.node.session.lease_id != old, 20, message="lease regained")
    await wait_for(lambda: agent.pods.gate.is_set(), 10, message="rediscovery done")
    assert await wait_for(lambda: lease_id_of_key(store, node_name), 5) == agent.node.session.lease_id
    assert {c.id for c in runtime.containers_info()} == containers_before  # adopted, nothing duplicated
    assert await running(store, "survivor")


async def test_rediscovery_reads_no_pod_list_from_etcd_and_reopens_the_gate_while_etcd_is_down(
    store: Store, etcd: EmbeddedEtcd, start_agent: StartAgent, node_name: str,
) -> None:
    """A lease regained while etcd is still overloaded: rediscovery takes the node's pods from the
    agent's synced informer, so it neither adds a LIST of every pod to etcd's load (1,000 nodes did
    140 of 21 MB a minute in bench/bench_scale.py) nor fails — a failed one left the gate closed for
    good and the node's pods were never synced again."""
    runtime = SimRuntime(node=node_name)
    agent = await start_agent(node_name, runtime=runtime)
    await store.create(PODS, sleeper("kept", node_name))
    await wait_for(lambda: running(store, "kept"), 10, message="running")
    containers = {c.id for c in runtime.containers_info()}
    await etcd.kill()
    agent.pods.close_gate()  # as a lost lease does
    await asyncio.wait_for(agent.pods.rediscover(), 30)  # as the lease watch calls it on a regain
    assert agent.pods.gate.is_set()
    assert {c.id for c in runtime.containers_info()} == containers  # the pod's containers adopted, none removed
    await etcd.start()
    assert await wait_for(lambda: running(store, "kept"), 20, ignore=(Exception,))
