"""`kl up --runtime sim` hosts its simulated nodes in shared agent processes
(``--sim-nodes-per-process``, 250 by default): N nodes Ready from one process,
a stopped process's nodes lose their leases (and only its nodes), a killed one
is restarted by kl up's supervisor, and Ctrl-C leaves no process.

A node's failure domain in this mode is its agent process: to stop one
simulated node alone, host it alone (here: 3 nodes, 2 per process, so
``sim-nodes-3-3`` holds node-3 only)."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kubelite.cli.up_support import sim_node_groups
from tests.cli.cluster import KlUp, alive, descendants, run_sync
from tests.helpers import wait_for

# -- decisions (pure) -------------------------------------------------------


def test_sim_nodes_are_cut_into_runs_of_at_most_per_process() -> None:
    assert sim_node_groups(20, 250) == [(1, 20)]
    assert sim_node_groups(1000, 250) == [(1, 250), (251, 250), (501, 250), (751, 250)]
    assert sim_node_groups(5, 2) == [(1, 2), (3, 2), (5, 1)]
    assert sim_node_groups(3, 1) == [(1, 1), (2, 1), (3, 1)]


# -- end to end ---------------------------------------------------------------


def get(up: KlUp, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(up.server + path, timeout=10) as resp:
        return json.loads(resp.read())


def node_states(up: KlUp) -> dict[str, str]:
    """Node name → its Ready condition's status ('True', 'Unknown', ...)."""
    states = {}
    for node in get(up, "/api/v1/nodes")["items"]:
        ready = [c for c in (node.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
        states[node["metadata"]["name"]] = ready[0]["status"] if ready else "none"
    return states


def leases(up: KlUp) -> set[str]:
    return {item["metadata"]["name"] for item in
            get(up, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")["items"]}


def agent_pids(up: KlUp) -> list[int]:
    assert up.proc is not None
    return [pid for pid in descendants(up.proc.pid)
            if b"-m\0agent\0" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def stop_cleanly(up: KlUp) -> None:
    """SIGINT (Ctrl-C) stops kl up with exit 0, and none of its processes is left."""
    assert up.proc is not None
    children = descendants(up.proc.pid)
    assert children
    up.proc.send_signal(signal.SIGINT)
    assert up.proc.wait(90) == 0, up.output()
    assert "stopped: no process left" in up.output()
    left = [pid for pid in children if alive(pid)]
    assert not left, f"processes outlived kl up: {left}\n{up.output()}"


def test_kl_up_runs_20_sim_nodes_in_one_agent_process(tmp_path: Path) -> None:
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "20"])
    up.start()
    try:
        run_sync(up.wait_up())
        assert set(up.state["processes"]) == {"control-plane", "sim-nodes-1-20"}
        assert len(agent_pids(up)) == 1  # the process table agrees: one agent for 20 nodes
        assert agent_pids(up) == [up.state["processes"]["sim-nodes-1-20"]]
        assert node_states(up) == {f"node-{i}": "True" for i in range(1, 21)}
        assert leases(up) == {f"node-{i}" for i in range(1, 21)}
        assert "logs/<control-plane|sim-nodes-FIRST-LAST>.log" in up.output()
        # The process derives each node's token from the agent secret: no per-node token files.
        assert not (tmp_path / "kl" / "agent-tokens").exists()
        stop_cleanly(up)
    finally:
        up.stop()
        up.kill_leftovers()


def test_a_stopped_sim_node_process_loses_only_its_nodes_leases(tmp_path: Path) -> None:
    # a short lease (kl up's default is the kubelet's 40 s), so that its expiry is quick to see
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "3", "--sim-nodes-per-process", "2",
                                "--node-lease-duration", "6"])
    up.start()
    stopped: int | None = None
    try:
        run_sync(up.wait_up())
        assert set(up.state["processes"]) == {"control-plane", "sim-nodes-1-2", "sim-nodes-3-3"}
        assert len(agent_pids(up)) == 2
        node_lease = get(up, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-3")
        assert node_lease["spec"]["leaseDurationSeconds"] == 6

        # Frozen (SIGSTOP: kl up still sees it running): node-3's lease expires after its
        # TTL, the node-lifecycle controller marks it Unknown; the others keep theirs.
        stopped = up.state["processes"]["sim-nodes-3-3"]
        os.kill(stopped, signal.SIGSTOP)
        run_sync(wait_for(lambda: "node-3" not in leases(up), 30, message="node-3's lease to expire",
                          ignore=(urllib.error.URLError,)))
        run_sync(wait_for(lambda: node_states(up)["node-3"] == "Unknown", 15, message="node-3 not Ready"))
        assert leases(up) == {"node-1", "node-2"}
        assert node_states(up) == {"node-1": "True", "node-2": "True", "node-3": "Unknown"}

        os.kill(stopped, signal.SIGCONT)  # it comes back: a new lease, Ready again
        stopped = None
        run_sync(wait_for(lambda: node_states(up)["node-3"] == "True", 30, message="node-3 Ready again"))
        assert leases(up) == {"node-1", "node-2", "node-3"}

        # Killed, the process is restarted by kl up's supervisor and its nodes are Ready from it.
        killed = up.state["processes"]["sim-nodes-1-2"]
        os.kill(killed, signal.SIGKILL)
        run_sync(wait_for(lambda: "sim-nodes-1-2 restarted" in up.output(), 30, message="the restart"))
        assert "sim-nodes-1-2 killed by SIGKILL" in up.output()
        restarted = up.state_now()["processes"]["sim-nodes-1-2"]
        assert restarted != killed and alive(restarted)
        run_sync(wait_for(lambda: set(node_states(up).values()) == {"True"} and len(leases(up)) == 3, 30,
                          message="every node Ready after the restart"))
        assert "node node-1: lease" in (tmp_path / "kl" / "logs" / "sim-nodes-1-2.log").read_text()
        stop_cleanly(up)
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        up.stop()
        up.kill_leftovers()


def test_one_sim_node_per_process_is_still_reachable(tmp_path: Path) -> None:
    """``--sim-nodes-per-process 1``: the former layout (the benchmark's baseline), a process
    and a token file per node."""
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "2", "--sim-nodes-per-process", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        assert set(up.state["processes"]) == {"control-plane", "node-1", "node-2"}
        assert sorted(agent_pids(up)) == sorted([up.state["processes"]["node-1"], up.state["processes"]["node-2"]])
        assert sorted(p.name for p in (tmp_path / "kl" / "agent-tokens").iterdir()) == ["node-1", "node-2"]
        assert node_states(up) == {"node-1": "True", "node-2": "True"}
        stop_cleanly(up)
    finally:
        up.stop()
        up.kill_leftovers()
