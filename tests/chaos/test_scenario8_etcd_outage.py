"""Scenario 8: etcd is gone for 30 s while the components run as separate processes.

Nothing may exit and nothing may be deleted: agents keep their pods' containers
(an agent never drains because etcd vanished), the manager and the gateway wait
for etcd, and after it returns the cluster converges with the very same
containers. (`kl up` gives the same guarantee by restarting a crashed embedded
etcd: tests/cli/test_up_supervise.py.)"""

from __future__ import annotations

import asyncio
import time

import pytest

from kubelite.testing import Api, Processes, Expect, report, wait_converged
from kubelite.testing import EtcdCluster

# serial (scripts/test.sh's second phase, alone on the machine): a timed 30 s etcd outage; the components must wait it out and converge within deadlines
pytestmark = pytest.mark.serial

REPLICAS = 4
OUTAGE = 30.0  # seconds: the length of the fault under test, not a wait for a condition


async def test_thirty_second_etcd_outage_loses_no_container(etcd_cluster: EtcdCluster, chaos: Processes) -> None:
    _, nodes = chaos.start_sim_agents("sims", 2, "--drain-on-exit")  # even with drain-on-exit
    chaos.start_manager("cm-1")
    chaos.start_gateway()
    await chaos.wait_ready(nodes)
    async with Api(chaos.gateway_url) as api:
        await api.until_ok(lambda: api.create_deployment("web", REPLICAS), what="create web")
        await wait_converged(chaos, {"web": Expect(REPLICAS)}, 60)
        before = {c["id"] for c in (await chaos.containers())[0]}
        assert len(before) == 2 * REPLICAS  # sandbox + app each

        for member in etcd_cluster.members:
            etcd_cluster.kill(member)
        down_at = time.monotonic()
        while time.monotonic() - down_at < OUTAGE:
            chaos.check_alive()  # no component gives up while etcd is away
            assert {c["id"] for c in (await chaos.containers())[0]} == before, "a container went during the outage"
            await asyncio.sleep(1)
        for member in etcd_cluster.members:
            member.docker_container.start()
        etcd_cluster.wait_healthy()
        back_at = time.monotonic()
        await wait_converged(chaos, {"web": Expect(REPLICAS)}, 90)
        converged = time.monotonic() - back_at
        chaos.check_alive()
        assert {c["id"] for c in (await chaos.containers())[0]} == before
        report("8 etcd down 30 s (separate processes, 2 sim nodes, 4 pods)", converged_after_etcd_back=converged,
               containers_lost=0)
