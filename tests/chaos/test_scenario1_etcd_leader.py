"""Scenario 1: SIGKILL the etcd leader during a scale from 0 to 100 replicas, and again during
a rolling update of those 100; kubelite loses nothing and converges."""

from __future__ import annotations

import asyncio
import time

import pytest

from kubelite.api.resources import PODS
from kubelite.storage.store import Store
from kubelite.testing import Api, Processes, Expect, ProbeWriter, report, wait_converged
from kubelite.testing import EtcdCluster
from tests.helpers import wait_for

# serial (scripts/test.sh's second phase, alone on the machine): the etcd leader SIGKILLed during a 100-replica scale and rollout, under convergence deadlines
pytestmark = pytest.mark.serial

REPLICAS = 100


async def _pods(store: Store, *, version: str | None = None) -> int:
    pods = (await store.list(PODS, "default")).items
    return sum(1 for p in pods if version is None or any(e.value == version for e in p.spec.containers[0].env or []))


async def test_etcd_leader_killed_during_scale_up_and_during_rolling_update(
    etcd_cluster: EtcdCluster, chaos: Processes,
) -> None:
    _, nodes = chaos.start_sim_agents("sim", 10)
    chaos.start_manager("cm-1")
    chaos.start_manager("cm-2")
    chaos.start_gateway()
    await chaos.wait_ready(nodes)
    store = await chaos.connect_store()
    async with Api(chaos.gateway_url) as api:
        await api.until_ok(lambda: api.create_deployment("web", 0), what="create web with 0 replicas")
        probe = ProbeWriter(api)
        probe.start()
        try:
            # -- during the scale from 0 to 100 ------------------------------------------
            await api.until_ok(lambda: api.scale("web", REPLICAS), what="scale to 100")
            scaled_at = time.monotonic()
            await wait_for(lambda: _pods(store), 30, 0.02, message="the first pods")
            leader = await etcd_cluster.leader()
            killed_at = time.monotonic()
            etcd_cluster.kill(leader)
            first_write = await probe.wait_success_after(killed_at)
            converged = await wait_converged(chaos, {"web": Expect(REPLICAS)}, 120)
            report("1a etcd leader SIGKILLed during scale 0->100", first_write=first_write,
                   converged_after_kill=time.monotonic() - killed_at, scale_total=time.monotonic() - scaled_at,
                   check=converged)
            await asyncio.to_thread(etcd_cluster.restart, leader)

            # -- during a rolling update of the 100 ---------------------------------------
            await api.until_ok(lambda: api.roll("web", "v2"), what="roll to v2")
            rolled_at = time.monotonic()
            await wait_for(lambda: _pods(store, version="v2"), 30, 0.02, message="the first v2 pods")
            leader = await etcd_cluster.leader()
            killed_at = time.monotonic()
            etcd_cluster.kill(leader)
            first_write = await probe.wait_success_after(killed_at)
            await wait_converged(chaos, {"web": Expect(REPLICAS, "v2")}, 150)
            report("1b etcd leader SIGKILLed during a rolling update of 100", first_write=first_write,
                   converged_after_kill=time.monotonic() - killed_at, rollout_total=time.monotonic() - rolled_at)
        finally:
            await probe.stop()
        await probe.check_present(store)
        chaos.check_alive()
