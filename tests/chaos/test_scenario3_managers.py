"""Scenario 3: SIGKILL the leading controller-manager (of three) mid-rollout; then SIGKILL all
of them and start a single new one. The rollouts finish exactly."""

from __future__ import annotations

import time

import pytest

from kubelite.api.resources import PODS
from kubelite.storage.store import Store
from kubelite.testing import Api, Processes, Expect, ProbeWriter, leader, report, wait_converged
from kubelite.testing import EtcdCluster
from tests.helpers import wait_for

# serial (scripts/test.sh's second phase, alone on the machine): controller-managers SIGKILLed mid-rollout; lease-expiry and convergence deadlines
pytestmark = pytest.mark.serial


async def _mid_rollout(store: Store, version: str) -> bool:
    pods = (await store.list(PODS, "default")).items
    return any(e.value == version for p in pods for e in p.spec.containers[0].env or [])


async def test_leading_manager_killed_mid_rollout_then_all_killed_and_one_started(
    etcd_cluster: EtcdCluster, chaos: Processes,
) -> None:
    _, nodes = chaos.start_sim_agents("sim", 5)
    for i in (1, 2, 3):
        chaos.start_manager(f"cm-{i}")
    chaos.start_gateway()
    await chaos.wait_ready(nodes)
    store = await chaos.connect_store()
    async with Api(chaos.gateway_url) as api:
        # One pod at a time, each available only after a second: a rollout long enough to kill into.
        await api.until_ok(lambda: api.create_deployment("web", 12, max_surge=1, max_unavailable=0,
                                                         min_ready_seconds=1), what="create web")
        await wait_converged(chaos, {"web": Expect(12)}, 60)
        probe = ProbeWriter(api)
        probe.start()
        try:
            await api.until_ok(lambda: api.roll("web", "v2"), what="roll to v2")
            await wait_for(lambda: _mid_rollout(store, "v2"), 20, 0.02, message="the rollout under way")
            first = await leader(store)
            assert first is not None
            killed_at = time.monotonic()
            chaos.procs[first].kill()

            async def successor() -> str | None:
                holder = await leader(store)
                return holder if holder not in (None, first) else None

            await wait_for(successor, 20, 0.05, message="a standby takes over")
            takeover = time.monotonic() - killed_at
            await wait_converged(chaos, {"web": Expect(12, "v2")}, 90)
            report("3a leading controller-manager SIGKILLed mid-rollout", takeover=takeover,
                   converged_after_kill=time.monotonic() - killed_at)

            await api.until_ok(lambda: api.roll("web", "v3"), what="roll to v3")
            await wait_for(lambda: _mid_rollout(store, "v3"), 20, 0.02, message="the next rollout under way")
            killed_at = time.monotonic()
            for name in ("cm-1", "cm-2", "cm-3"):
                chaos.procs[name].kill()
            await api.until_ok(lambda: api.scale("web", 16), what="scale to 16 with no manager")
            chaos.start_manager("cm-4")
            started_at = time.monotonic()
            await wait_for(lambda: _is(store, "cm-4"), 20, 0.05, message="the new manager leads")
            takeover = time.monotonic() - started_at
            await wait_converged(chaos, {"web": Expect(16, "v3")}, 90)
            report("3b all three managers SIGKILLed mid-rollout, one new started", leading_after_start=takeover,
                   converged_after_start=time.monotonic() - started_at,
                   first_write_after_kill=probe.first_success_after(killed_at))
        finally:
            await probe.stop()
        await probe.check_present(store)
        chaos.check_alive("gateway", "sim", "cm-4")


async def _is(store: Store, identity: str) -> bool:
    return await leader(store) == identity
