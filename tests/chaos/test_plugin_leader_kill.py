"""The pytest plugin as a user's test uses it (fixtures ``kubelite_cluster``/``kubelite_faults``):
a 3-member etcd (local processes: the plugin's other backend than the containers the scenarios
use) loses its leader while a Deployment scales; the checkers report and the report is kept
for the terminal summary. tests/release/test_chaos_plugin_wheel.py runs the same from the wheel."""

from __future__ import annotations

import pytest

from kubelite.testing import (
    COLLECTED,
    AcknowledgedWrites,
    Cluster,
    Converged,
    EtcdKill,
    EtcdPartition,
    Expect,
    NoOrphans,
    TimeToFirstWrite,
    wait_converged,
)
from kubelite.testing.pytest_plugin import FaultKit

# serial (scripts/test.sh's second phase, alone on the machine): a 3-member etcd's leader killed during a scale; TimeToFirstWrite and convergence deadlines
pytestmark = [pytest.mark.chaos, pytest.mark.serial]


@pytest.mark.kubelite_cluster(etcd_members=3, etcd_backend="local", agents=2, managers=2)
async def test_plugin_etcd_leader_kill_during_scale(kubelite_cluster: Cluster, kubelite_faults: FaultKit) -> None:
    api = await kubelite_faults.api()
    await api.until_ok(lambda: api.create_deployment("web", 3), what="create web")
    assert kubelite_cluster.processes is not None
    await wait_converged(kubelite_cluster.processes, {"web": Expect(3)}, 60)
    probe = await kubelite_faults.probe()
    await probe.wait_success_after(0.0)

    leader_before = await kubelite_cluster.etcd.leader()
    killed = await kubelite_faults.inject(EtcdKill("leader"))
    assert killed == f"etcd member {leader_before.name}"
    await api.until_ok(lambda: api.scale("web", 6), 30, what="scale to 6 without the etcd leader")
    assert await kubelite_faults.writes_resumed(15) < 15
    # Local members share the host's network: the partition is skipped, with the reason recorded.
    assert await kubelite_faults.inject(EtcdPartition("follower")) is None
    await kubelite_faults.heal_all()

    reports = await kubelite_faults.check(AcknowledgedWrites(probe), TimeToFirstWrite(probe, 15),
                                          Converged({"web": Expect(6)}, 90), NoOrphans())
    assert [r.name for r in reports] == ["acknowledged-writes", "first-write", "converged", "no-orphans"]
    assert reports[0].figures["acknowledged"] and reports[0].figures["lost"] == 0
    report = kubelite_faults.report
    assert [e.action for e in report.events] == ["inject", "skip", "heal"]
    assert "share the host network" in report.skipped[0].detail
    assert report.ok and report.figures["first-write.after_fault_1"] == report.figures["writes_resumed_1"]
    assert report not in COLLECTED  # the plugin collects it at teardown, for the summary
