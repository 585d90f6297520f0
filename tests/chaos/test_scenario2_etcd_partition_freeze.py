"""Scenario 2: one etcd member cut off the network, then (separately) one frozen; each time
the cluster keeps taking writes, converges, and heals when the member returns."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubelite.testing import Api, Processes, Expect, ProbeWriter, report, wait_converged
from kubelite.testing import EtcdCluster

# serial (scripts/test.sh's second phase, alone on the machine): an etcd member partitioned, then frozen, under convergence deadlines
pytestmark = pytest.mark.serial


async def test_partitioned_member_then_frozen_leader_then_healed(
    etcd_cluster: EtcdCluster, chaos: Processes,
) -> None:
    _, nodes = chaos.start_sim_agents("sim", 5)
    chaos.start_manager("cm-1")
    chaos.start_manager("cm-2")
    chaos.start_gateway()
    await chaos.wait_ready(nodes)
    store = await chaos.connect_store()
    async with Api(chaos.gateway_url) as api:
        await api.until_ok(lambda: api.create_deployment("web", 10), what="create web")
        await wait_converged(chaos, {"web": Expect(10)}, 60)
        probe = ProbeWriter(api)
        probe.start()
        try:
            # Partition the member every client tries first (gRPC starts with the first address).
            cut = etcd_cluster.members[0]
            cut_at = time.monotonic()
            etcd_cluster.disconnect(cut)
            await api.until_ok(lambda: api.scale("web", 20), what="scale to 20 while partitioned")
            first_write = await probe.wait_success_after(cut_at)
            await wait_converged(chaos, {"web": Expect(20)}, 60)
            report("2a one etcd member partitioned (the one clients use first)", first_write=first_write,
                   converged_after_fault=time.monotonic() - cut_at)
            etcd_cluster.reconnect(cut)
            await asyncio.to_thread(etcd_cluster.wait_healthy)

            frozen = await etcd_cluster.leader()
            frozen_at = time.monotonic()
            etcd_cluster.pause(frozen)
            try:
                await api.until_ok(lambda: api.scale("web", 30), what="scale to 30 while the leader is frozen")
                first_write = await probe.wait_success_after(frozen_at)
                await wait_converged(chaos, {"web": Expect(30)}, 60)
                report("2b etcd leader frozen (docker pause)", first_write=first_write,
                       converged_after_fault=time.monotonic() - frozen_at)
            finally:
                etcd_cluster.unpause(frozen)
            healed_at = time.monotonic()
            await asyncio.to_thread(etcd_cluster.wait_healthy)
            await api.until_ok(lambda: api.scale("web", 15), what="scale to 15 after healing")
            await wait_converged(chaos, {"web": Expect(15)}, 60)
            report("2c healed: all members back", converged_after_heal=time.monotonic() - healed_at)
        finally:
            await probe.stop()
        await probe.check_present(store)
        chaos.check_alive()
