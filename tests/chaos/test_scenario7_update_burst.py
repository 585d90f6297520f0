"""Scenario 7: a burst of 500 concurrent updates (merge patches) of one Deployment's replicas
through the gateway: no 5xx; the stored spec is the last acknowledged write (the acknowledged
response with the highest resourceVersion), and the cluster converges to it. An unconditional
patch that races others is retried by the gateway, as Kubernetes does: every one of them lands
(one that sets the value already stored is a no-op and answers that object's resourceVersion)."""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import pytest

from kubelite.api.resources import DEPLOYMENTS
from kubelite.testing import Api, Processes, Expect, report, wait_converged
from kubelite.testing import EtcdCluster

# serial (scripts/test.sh's second phase, alone on the machine): a burst of 500 concurrent updates through the gateway, under convergence deadlines
pytestmark = pytest.mark.serial

UPDATES = 500


async def test_500_concurrent_replica_updates_last_acknowledged_write_wins(
    etcd_cluster: EtcdCluster, chaos: Processes,
) -> None:
    _, nodes = chaos.start_sim_agents("sim", 3)
    chaos.start_manager("cm-1")
    chaos.start_gateway()
    await chaos.wait_ready(nodes)
    store = await chaos.connect_store()
    rng = random.Random(7)
    wanted = [rng.randint(1, 12) for _ in range(UPDATES)]
    async with Api(chaos.gateway_url, timeout=60) as api:
        await api.until_ok(lambda: api.create_deployment("web", 3), what="create web")
        await wait_converged(chaos, {"web": Expect(3)}, 60)

        async def update(replicas: int) -> tuple[int, int | None, int, float]:
            started = time.monotonic()
            status, doc = await api.scale("web", replicas)
            rv = int(doc["metadata"]["resourceVersion"]) if status == 200 else None
            return status, rv, replicas, time.monotonic() - started

        burst_at = time.monotonic()
        results = await asyncio.gather(*(update(n) for n in wanted))
        burst = time.monotonic() - burst_at
        codes = sorted({status for status, *_ in results})
        assert not api.server_errors and 0 not in codes, f"5xx or no answer: {api.server_errors[:5]} {codes}"
        assert codes == [200], f"status codes {codes}: an unconditional patch must land"
        acknowledged = [(rv, replicas) for status, rv, replicas, _ in results if status == 200 and rv is not None]
        assert acknowledged, "no write acknowledged"
        # A write that changes nothing is not written (as kube-apiserver): it answers the revision of
        # the write it repeats. So writes may share a revision only when they set the same value.
        at_revision: dict[int, set[int]] = {}
        for rv, replicas in acknowledged:
            at_revision.setdefault(rv, set()).add(replicas)
        assert all(len(values) == 1 for values in at_revision.values()), \
            f"different writes acknowledged at one revision: {[v for v in at_revision.items() if len(v[1]) > 1][:3]}"
        last_rv, last_replicas = max(acknowledged)
        stored = await store.get(DEPLOYMENTS, "web", "default")
        assert stored.spec.replicas == last_replicas, (stored.spec.replicas, last_rv, last_replicas)
        converged = await wait_converged(chaos, {"web": Expect(last_replicas)}, 60)
        latencies = sorted(latency for *_, latency in results)
        report("7 500 concurrent replica updates through the gateway", burst=burst,
               p50=statistics.median(latencies), p99=latencies[int(len(latencies) * 0.99) - 1],
               converged_after_burst=converged, acknowledged=len(acknowledged), final_replicas=last_replicas)
    chaos.check_alive()
