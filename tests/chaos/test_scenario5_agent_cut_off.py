"""Scenario 5: an agent (docker runtime) is cut off from etcd while it keeps running — its
etcd traffic goes through a TCP proxy the test cuts. Its lease expires, its pods are
rescheduled elsewhere; once the cut heals, the agent stops the pods no longer bound to it
within a few seconds, so no pod runs twice for longer than that."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from kubelite.api.resources import NODES, PODS
from kubelite.storage.store import Store
from kubelite.testing import Api, Processes, EtcdAccess, Expect, ProbeWriter, node_ready, report, wait_converged
from kubelite.testing import EtcdCluster
from kubelite.testing import TcpProxy
from tests.helpers import wait_for

# serial (scripts/test.sh's second phase, alone on the machine): an agent cut off from etcd must stop its stale pods within 10 s of the heal
pytestmark = pytest.mark.serial

REPLICAS = 4
STOPPED_WITHIN = 10.0  # seconds after the heal by which the cut-off agent stopped its stale pods


@pytest.fixture
async def proxy(etcd_cluster: EtcdCluster) -> AsyncIterator[TcpProxy]:
    tcp = TcpProxy(etcd_cluster.endpoints)
    await tcp.start()
    try:
        yield tcp
    finally:
        await tcp.close()


async def test_agent_cut_off_from_etcd_loses_its_pods_and_stops_them_after_the_heal(
    etcd_cluster: EtcdCluster, chaos: Processes, proxy: TcpProxy,
) -> None:
    _, cut_node = chaos.start_docker_agent("cut", access=EtcdAccess(proxy.endpoints))
    _, other = chaos.start_docker_agent("other")
    chaos.start_manager("cm-1")
    chaos.start_gateway()
    await chaos.wait_ready([cut_node, other])
    store = await chaos.connect_store()
    async with Api(chaos.gateway_url) as api:
        await api.until_ok(lambda: api.create_deployment("web", REPLICAS), what="create web")
        await wait_converged(chaos, {"web": Expect(REPLICAS)}, 90)
        moved = {p.metadata.uid for p in (await store.list(PODS, "default")).items if p.spec.node_name == cut_node}
        assert moved, "the spreading scorer put pods on both nodes"
        probe = ProbeWriter(api)
        probe.start()
        try:
            cut_at = time.monotonic()
            await proxy.cut()
            await wait_for(lambda: _not_ready(store, cut_node), 30, 0.1, message=f"{cut_node} NotReady")
            not_ready = time.monotonic() - cut_at
            await wait_converged(chaos, {"web": Expect(REPLICAS)}, 60, containers=False)
            replaced_at = time.monotonic()  # the replacements run: from here, those pods run twice
            rescheduled = replaced_at - cut_at
            twice = [c for c in (await chaos.containers())[0] if c["pod_uid"] in moved and c["state"] == "running"]
            assert twice, "while cut off, the agent keeps running its old pods (it cannot know)"
            chaos.check_alive(chaos.procs["cut"].name)

            await proxy.heal()
            healed_at = time.monotonic()
            await wait_for(lambda: _stale_gone(chaos, moved), STOPPED_WITHIN, 0.1,
                           message="the cut-off agent stopped the pods bound elsewhere")
            stopped_at = time.monotonic()
            stopped = stopped_at - healed_at
            await wait_converged(chaos, {"web": Expect(REPLICAS)}, 60)
            await wait_for(lambda: _ready(store, cut_node), 30, 0.1, message=f"{cut_node} Ready again")
            report("5 agent cut off from etcd (TCP proxy), docker runtime", node_not_ready=not_ready,
                   pods_rescheduled=rescheduled, stale_stopped_after_heal=stopped,
                   ran_twice_for=stopped_at - replaced_at,
                   stale_containers=len(twice))
        finally:
            await probe.stop()
        await probe.check_present(store)
        chaos.check_alive()


async def _stale_gone(chaos: Processes, uids: set[str]) -> bool:
    return not any(c["pod_uid"] in uids and c["state"] == "running" for c in (await chaos.containers())[0])


async def _ready(store: Store, node: str) -> bool:
    return node_ready(await store.get(NODES, node))


async def _not_ready(store: Store, node: str) -> bool:
    return not node_ready(await store.get(NODES, node))
