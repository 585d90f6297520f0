"""The host faults of kubelite.testing: the Docker Engine stopped and started again, and an agent's
wall clock skewed. Both on small clusters (1 local etcd member, 1 manager).

- ``docker-restart`` never touches the shared engine: the cluster runs a dockerd of its own
  (``docker_engine="private"``) and the test checks the shared engine's pid did not change.
- ``clock-skew`` shifts one sim agent process's wall clock (libfaketime) by +120 s, then
  -120 s: the skew shows in the timestamps that agent writes (Node heartbeats, pods' startTime),
  while its node stays Ready and its pods Running — liveness is the etcd lease's TTL and every
  period runs on the monotonic clock, so no timestamp comparison can flap a node.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.resources import NODES, PODS
from kubelite.testing import (
    ClockSkew, Cluster, ClusterSpec, DockerEngineRestart, Expect, ScenarioReport, node_ready, report, wait_converged,
    wait_for,
)
from kubelite.testing.dockerd import _alive

# serial (scripts/test.sh's second phase, alone on the machine): starts a private dockerd (host-wide iptables chains) and skews a process's clock; fault timing
pytestmark = [pytest.mark.chaos, pytest.mark.docker, pytest.mark.serial]

SMALL = {"etcd_members": 1, "etcd_backend": "local", "managers": 1, "gateways": 1}


def shared_dockerd_pid() -> int | None:
    try:
        return int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def test_host_faults_say_why_they_cannot_be_injected(tmp_path: Path) -> None:
    """Reasons come from the spec alone: a cluster need not start to be asked."""
    sim = Cluster(ClusterSpec(**SMALL, agents=1), tmp_path)  # type: ignore[arg-type]
    assert "no docker agents" in (DockerEngineRestart().unavailable(sim) or "")
    shared = Cluster(ClusterSpec(**SMALL, agents=1, runtime="docker"), tmp_path)  # type: ignore[arg-type]
    assert "shared Docker Engine" in (DockerEngineRestart().unavailable(shared) or "")
    assert "start the cluster with clock_skew" in (ClockSkew("agent").unavailable(sim) or "")
    skewed = Cluster(ClusterSpec(**SMALL, agents=1, clock_skew=True), tmp_path)  # type: ignore[arg-type]
    assert "for agent processes" in (ClockSkew("gateway-1").unavailable(skewed) or "")
    from kubelite.testing.existing import ExistingCluster
    theirs = ExistingCluster(tmp_path, server="http://127.0.0.1:1", etcd_endpoints=("127.0.0.1:2",))
    assert "existing cluster's Docker Engine" in (DockerEngineRestart().unavailable(theirs) or "")
    assert "existing cluster's agents" in (ClockSkew("agent").unavailable(theirs) or "")
    with pytest.raises(ValueError, match="docker_engine: private"):
        ClusterSpec(**SMALL, docker_engine="private")  # type: ignore[arg-type]


async def test_docker_engine_stopped_and_started_again_pods_recover(tmp_path: Path) -> None:
    shared_before = shared_dockerd_pid()
    spec = ClusterSpec(**SMALL, agents=1, runtime="docker", docker_engine="private")  # type: ignore[arg-type]
    cluster = Cluster(spec, tmp_path)
    async with cluster:
        engine = cluster.docker_engine
        assert engine is not None and engine.url.startswith("unix:///tmp/kld-")
        private_dir = cluster.private_dockerd.dir if cluster.private_dockerd else None
        store = await cluster.store()
        async with cluster.api() as api:
            await api.until_ok(lambda: api.create_deployment("web", 2), what="create web")
        assert cluster.processes is not None
        await wait_converged(cluster.processes, {"web": Expect(2)}, 90)
        old_pid = engine.current_pid()
        fault = DockerEngineRestart()
        scenario = ScenarioReport("docker-restart")
        stopped_at = time.monotonic()
        what = await fault.inject(cluster)
        scenario.event("inject", fault.describe(), what)
        assert old_pid is not None and not _alive(old_pid) and f"dockerd {old_pid}" in what

        async def node_not_ready() -> bool:
            node = await store.get(NODES, cluster.nodes[0])
            return not node_ready(node)
        await wait_for(node_not_ready, 30, 0.1, message="the node reports its engine down")
        not_ready = time.monotonic() - stopped_at
        healed_at = time.monotonic()
        await fault.heal(cluster)
        engine_back = time.monotonic() - healed_at
        assert engine.current_pid() not in (None, old_pid) and engine.answers()
        await wait_converged(cluster.processes, {"web": Expect(2)}, 120)
        pods = (await store.list(PODS, "default")).items
        restarts = sum(c.restart_count for p in pods for c in (p.status.container_statuses or []))
        report("docker-restart", node_not_ready_s=not_ready, engine_back_s=engine_back,
               converged_after_start_s=time.monotonic() - healed_at, container_restarts=restarts)
        running = [c for c in (await cluster.processes.containers())[0] if c["state"] == "running"]
        assert len(running) == 4, f"each pod's sandbox and app run again: {running}"
    assert private_dir is not None and not private_dir.exists(), "the private engine's directory is removed"
    assert cluster.private_dockerd is None
    assert shared_dockerd_pid() == shared_before, "the shared engine was not touched"


def _heartbeat(node: Any) -> datetime:
    for c in (node.status and node.status.conditions) or []:
        if c.type == "Ready" and c.last_heartbeat_time is not None:
            stamp = c.last_heartbeat_time
            return stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    raise AssertionError(f"node {node.name} has no Ready heartbeat")


async def test_agent_clock_skew_shows_in_its_timestamps_and_flaps_nothing(tmp_path: Path) -> None:
    spec = ClusterSpec(**SMALL, agents=2, agent_processes=2, clock_skew=True)  # type: ignore[arg-type]
    async with Cluster(spec, tmp_path) as cluster:
        store = await cluster.store()
        skewed_node, other_node = cluster.nodes  # agent-1 runs the first node
        assert cluster.proc("agent-1").nodes == (skewed_node,)
        async with cluster.api() as api:
            await api.until_ok(lambda: api.create_deployment("web", 2), what="create web")
            assert cluster.processes is not None
            await wait_converged(cluster.processes, {"web": Expect(2)}, 60)
            figures: dict[str, float] = {}
            for seconds in (120.0, -120.0):
                fault = ClockSkew("agent-1", seconds=seconds)
                assert fault.unavailable(cluster) is None
                began = time.monotonic()
                await fault.inject(cluster)

                async def skew_seen() -> bool:
                    offset = (_heartbeat(await store.get(NODES, skewed_node)) - datetime.now(UTC)).total_seconds()
                    return abs(offset - seconds) < 15

                await wait_for(skew_seen, 30, 0.2, message=f"node heartbeat {seconds:+}s off")
                figures[f"skew_{seconds:+.0f}_seen_s"] = round(time.monotonic() - began, 2)
                other = (_heartbeat(await store.get(NODES, other_node)) - datetime.now(UTC)).total_seconds()
                assert abs(other) < 15, f"the other agent's clock is untouched ({other:+.0f}s)"
                # new pods land on the skewed node too and run; their startTime carries the skew
                replicas = 4 if seconds > 0 else 2
                await api.until_ok(lambda: api.scale("web", replicas), what="scale web")
                await wait_converged(cluster.processes, {"web": Expect(replicas)}, 60)
                nodes_ready = [node_ready(n) for n in (await store.list(NODES)).items]
                assert all(nodes_ready), "no node flapped while skewed"
                await fault.heal(cluster)
            on_skewed = [p for p in (await store.list(PODS, "default")).items if p.spec.node_name == skewed_node]
            assert on_skewed, "some pod ran on the skewed node"

            async def unskewed() -> bool:
                offset = (_heartbeat(await store.get(NODES, skewed_node)) - datetime.now(UTC)).total_seconds()
                return abs(offset) < 15
            await wait_for(unskewed, 30, 0.2, message="heartbeats on time again after heal")
            await wait_converged(cluster.processes, {"web": Expect(2)}, 60)
            events = (await store.list(NODES)).items
            assert all(node_ready(n) for n in events)
            report("clock-skew", **figures)
