"""Scenario 4: SIGKILL an agent (docker runtime: its containers keep running). Its node goes
NotReady, its pods move to the other nodes; when the agent returns the node is Ready again
and the agent removes its stale containers."""

from __future__ import annotations

import time

import pytest

from kubelite.api.resources import NODES, PODS
from kubelite.storage.store import Store
from kubelite.testing import Api, Processes, Expect, ProbeWriter, node_ready, report, wait_converged
from kubelite.testing import EtcdCluster
from tests.helpers import wait_for

# serial (scripts/test.sh's second phase, alone on the machine): an agent SIGKILLed: node NotReady and pod moves within lease/toleration deadlines
pytestmark = pytest.mark.serial

REPLICAS = 6


async def _ready(store: Store, node: str) -> bool:
    return node_ready(await store.get(NODES, node))


async def test_killed_agent_pods_move_node_not_ready_then_back_and_stale_containers_removed(
    etcd_cluster: EtcdCluster, chaos: Processes,
) -> None:
    nodes = [chaos.start_docker_agent(name)[1] for name in ("a", "b", "c")]
    victim = nodes[0]
    chaos.start_manager("cm-1")
    chaos.start_gateway()
    await chaos.wait_ready(nodes)
    store = await chaos.connect_store()
    async with Api(chaos.gateway_url) as api:
        await api.until_ok(lambda: api.create_deployment("web", REPLICAS), what="create web")
        await wait_converged(chaos, {"web": Expect(REPLICAS)}, 90)
        on_victim = [p.name for p in (await store.list(PODS, "default")).items if p.spec.node_name == victim]
        assert on_victim, "the spreading scorer put pods on every node"
        stale = [c for c in (await chaos.containers())[0] if c["node"] == victim]
        probe = ProbeWriter(api)
        probe.start()
        try:
            killed_at = time.monotonic()
            chaos.procs["a"].kill()
            await wait_for(lambda: _not_ready(store, victim), 30, 0.1, message=f"{victim} NotReady")
            not_ready = time.monotonic() - killed_at
            # Its containers still run (the agent died, not docker): check pods only for now.
            await wait_converged(chaos, {"web": Expect(REPLICAS)}, 60, containers=False)
            moved = time.monotonic() - killed_at
            pods = (await store.list(PODS, "default")).items
            assert not any(p.spec.node_name == victim for p in pods)
            assert all(c["state"] == "running" for c in stale), "docker kept the dead agent's containers"

            chaos.procs["a"].start()
            back_at = time.monotonic()
            await wait_for(lambda: _ready(store, victim), 30, 0.1, message=f"{victim} Ready again")
            ready_again = time.monotonic() - back_at
            await wait_converged(chaos, {"web": Expect(REPLICAS)}, 60)
            cleaned = time.monotonic() - back_at
            left = {c["id"] for c in (await chaos.containers())[0]} & {c["id"] for c in stale}
            assert not left, f"stale containers left: {left}"
            report("4 agent SIGKILLed (docker runtime, 6 pods on 3 nodes)", node_not_ready=not_ready,
                   pods_moved=moved, ready_after_restart=ready_again, stale_containers_removed=cleaned,
                   stale_containers=len(stale))
        finally:
            await probe.stop()
        await probe.check_present(store)
        chaos.check_alive()


async def _not_ready(store: Store, node: str) -> bool:
    return not node_ready(await store.get(NODES, node))
