"""A chaos Cluster whose agent runs the oci runtime (runc + CNI): it starts, runs a Deployment's pods
on pod IPs of its own subnet (their containers seen by the convergence and orphan checks),
survives a SIGKILL of the agent (containers keep running, as with a kubelet), and leaves nothing on the host when it stops, even after its agent was SIGKILLed
(no drain): no runc container, no network namespace, no bridge, no overlay mount, no iptables
rule naming its CNI network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubelite.api.resources import PODS
from kubelite.testing import Cluster, ClusterSpec, Expect, ProcessKill, report, wait_converged, wait_for
from kubelite.testing.oci_nodes import oci_problem

# serial (scripts/test.sh's second phase, alone on the machine): an oci agent's cluster; its leftover checks count host-wide runc containers, netns and iptables rules
pytestmark = [pytest.mark.chaos, pytest.mark.serial]


async def test_an_oci_agent_runs_a_pod_and_the_cluster_cleans_up(tmp_path: Path) -> None:
    assert oci_problem() is None, oci_problem()  # scripts/setup.sh installs runc, the CNI plugins, umoci
    spec = ClusterSpec(etcd_members=1, etcd_backend="local", managers=1, gateways=1, agents=1, runtime="oci")
    cluster = Cluster(spec, tmp_path)
    async with cluster:
        oci = cluster.oci
        assert oci is not None
        async with cluster.api() as api:
            await api.until_ok(lambda: api.create_deployment("web", 2), what="create web")
        assert cluster.processes is not None
        took = await wait_converged(cluster.processes, {"web": Expect(2)}, 120)
        pods = (await (await cluster.store()).list(PODS, "default")).items
        assert all(p.status.pod_ip and p.status.pod_ip.startswith("10.246.") for p in pods), \
            [p.status.pod_ip for p in pods]
        seen, observed = await cluster.processes.containers()  # what Converged and NoOrphans inspect
        assert observed == {cluster.nodes[0]} and sorted(c["container"] for c in seen if c["state"] == "running") \
            == ["POD", "POD", "app", "app"], seen
        during = oci.leftovers()
        assert len(during["containers"]) == 2 and len(during["netns"]) == 2 and during["bridges"], during
        assert len(during["rules"]) == 2, during  # the bridge plugin's masquerade rule per pod
        kill = ProcessKill("agent-1")
        await kill.inject(cluster)
        assert len(oci.leftovers()["containers"]) == 2, "a SIGKILLed agent leaves its containers running"
        await kill.heal(cluster)
        log = cluster.proc("agent-1").log_path

        async def restarted() -> bool:  # its second start (and drain on exit) only once it is up
            return log.read_text().count("rediscovery adopted 4 container(s)") == 1  # 2 pods: sandbox + app each
        await wait_for(restarted, 60, 0.1, message="the restarted agent adopts its pods' containers")
        await wait_converged(cluster.processes, {"web": Expect(2)}, 120)
        assert sorted(oci.leftovers()["containers"]) == sorted(during["containers"]), "the same containers, adopted"
        network = f"kubelite-{cluster.nodes[0]}"
        cluster.proc("agent-1").kill()  # the harsh end: no drain, the Cluster's clean-up must do it all
    left = oci.leftovers()
    assert left == {"containers": [], "netns": [], "bridges": [], "rules": []}, left
    assert not oci.root.exists(), "its state directory is removed (overlay roots unmounted)"
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout  # noqa: S603,S607
    assert network not in rules, "the bridge plugin's NAT rules are removed"
    report("oci-cluster", converged_s=took)
