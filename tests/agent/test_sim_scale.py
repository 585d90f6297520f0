"""100 simulated agents in one process (one etcd client, one shared pod informer) register, run
pods and keep their leases."""

from __future__ import annotations

import asyncio
import time

from kubelite.api.resources import LEASES, NODES, PODS
from kubelite.api.core import Container, Pod, PodSpec
from kubelite.api.meta import ObjectMeta
from kubelite.etcd.ops import prefix_end, range_
from kubelite.storage.store import Store
from tests.agent.conftest import agent_config
from tests.helpers import wait_for

from agent.agent import Agent
from agent.podconfig.sources import ConfigSource
from agent.podsource import NodeView, shared_informer
from agent.runtime.sim import SimRuntime

COUNT = 100
TTL = 4


async def live_leases(store: Store) -> set[str]:
    prefix = LEASES.prefix("kube-node-lease")
    response = await range_(store.client, prefix, range_end=prefix_end(prefix), what="leases")
    return {kv.key.decode().rsplit("/", 1)[1] for kv in response.kvs if kv.lease}


async def test_hundred_sim_agents_register_and_keep_leases(store: Store) -> None:
    names = [f"scale-{i}" for i in range(COUNT)]
    shared = shared_informer(store)
    await shared.start()
    configs = ConfigSource(store)  # one ConfigMap/Secret source for all, as `python -m agent --sim-count` does
    await configs.start()
    agents = [Agent(agent_config(n, listen_host=None, lease_ttl=TTL, status_period=30.0), store=store,
                    runtime=SimRuntime(node=n, start_delay=0.2), pod_source=NodeView(shared, n),
                    config_source=configs) for n in names]
    limit = asyncio.Semaphore(20)

    async def start(agent: Agent) -> None:
        async with limit:
            await agent.start()

    began = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(start(a) for a in agents)), 90)
        startup = time.monotonic() - began
        nodes = await store.list(NODES)
        assert {n.name for n in nodes.items if n.is_ready()} >= set(names)
        assert await live_leases(store) >= set(names)
        # One pod per ten nodes runs on its agent.
        for i in range(0, COUNT, 10):
            await store.create(PODS, Pod(metadata=ObjectMeta(name=f"p{i}", namespace="default"),
                                         spec=PodSpec(containers=[Container(name="c", image="i")],
                                                      node_name=names[i])))

        async def all_running() -> bool:
            pods = await store.list(PODS, "default")
            return sum(p.phase == "Running" for p in pods.items) == COUNT // 10

        await wait_for(all_running, 30, 0.2, message="pods running on sim agents")
        # Leases stay alive for well over a TTL: keepalives keep up with 100 agents on 2 cores.
        deadline = time.monotonic() + 2.5 * TTL
        while time.monotonic() < deadline:
            assert await live_leases(store) >= set(names)
            assert all(a.healthy() for a in agents)
            await asyncio.sleep(1.0)
        assert all(a.node.sessions == 1 for a in agents)  # no lease was ever lost
        assert startup < 60, startup
    finally:
        await asyncio.wait_for(asyncio.gather(*(a.stop() for a in agents)), 30)
        await shared.stop()
        await configs.stop()
