"""`kl up` end to end: with the sim runtime the cluster comes up, `kl get nodes`
(and kubectl, with the kubeconfig kl up wrote) shows the nodes Ready, and
SIGTERM stops every process it started; with the docker runtime and --demo the
demo serves HTTP on the host ports it prints, and no container is left."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import docker
import docker.errors
import pytest

from kubelite.etcd.server import find_etcdctl_binary
from tests.cli.cluster import KlUp, alive, kl_argv, run_sync


def test_kl_up_sim_starts_and_sigterm_stops_everything(tmp_path: Path) -> None:
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "2"])
    up.start()
    try:
        run_sync(up.wait_up())
        out = up.output()
        assert "runtime: sim — as requested (--runtime sim)" in out
        # HTTPS by default, and plain HTTP on the same port for this user (the harness's up.server)
        assert up.server.replace("http://", "https://") in out and up.server in out
        assert str(tmp_path / "kl" / "kubeconfig") in out
        # The two simulated nodes share one agent process (see test_up_sim_nodes).
        assert set(up.state["processes"]) == {"control-plane", "sim-nodes-1-2"}
        pids = up.pids()
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        # the gateway and the controller-manager share the control-plane process; each line names its own
        lines = [json.loads(line) for line in (tmp_path / "kl" / "logs" / "control-plane.log").read_text().splitlines()
                 if line.startswith("{")]
        by_logger = {(line["logger"].split(".")[0] if line["logger"].startswith("controllers") else
                      ".".join(line["logger"].split(".")[:2]), line["component"]) for line in lines}
        assert ("controllers", "controller-manager") in by_logger and ("kubelite.gateway", "gateway") in by_logger
        assert not {pair for pair in by_logger if pair[0] == "controllers" and pair[1] != "controller-manager"}
        assert not {pair for pair in by_logger if pair[0] == "kubelite.gateway" and pair[1] != "gateway"}

        # the kubeconfig kl up wrote is enough for kl (and kubectl)
        env = {"KUBECONFIG": up.state["kubeconfig"], "PATH": "/usr/bin:/bin"}
        nodes = subprocess.run(kl_argv("get", "nodes"), env=env, capture_output=True, text=True, timeout=30)
        assert nodes.returncode == 0, nodes.stderr
        rows = [line.split() for line in nodes.stdout.splitlines()]
        assert rows[0][:2] == ["NAME", "STATUS"]
        assert sorted((r[0], r[1]) for r in rows[1:]) == [("node-1", "Ready"), ("node-2", "Ready")]

        if shutil.which("kubectl"):  # the banner says kubectl works with that kubeconfig too
            kubectl = subprocess.run(["kubectl", "--kubeconfig", up.state["kubeconfig"], "get", "nodes"],
                                     capture_output=True, text=True, timeout=60)
            assert kubectl.returncode == 0, kubectl.stderr
            assert "node-1" in kubectl.stdout and "node-2" in kubectl.stdout

        assert up.stop() == 0, up.output()
        leftovers = [pid for pid in pids if alive(pid)]
        assert not leftovers, f"processes outlived kl up: {leftovers}\n{up.output()}"
        assert "stopped: no process left" in up.output()
        assert not (tmp_path / "kl" / "up.json").exists()
    finally:
        up.stop()
        up.kill_leftovers()


def test_kl_up_refuses_a_busy_gateway_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(kl_argv("up", "--runtime", "sim", "--listen", f"127.0.0.1:{port}",
                                        "--data-dir", str(tmp_path / "d")),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.docker
def test_kl_up_docker_demo_serves_http_and_leaves_no_container(
    tmp_path: Path, demo_image: str, docker_client: docker.DockerClient,
) -> None:
    up = KlUp(tmp_path / "kl", ["--runtime", "docker", "--nodes", "1", "--demo"])
    up.start()
    try:
        run_sync(up.wait_up())  # with --demo, "up" is said once the demo has rolled out
        out = up.output()
        assert "runtime: docker — as requested (--runtime docker)" in out
        assert "demo: deployment.apps/web created" in out
        served = re.findall(r"demo: pod (\S+) → (http://127\.0\.0\.1:\d+/)", out)
        assert len(served) == 2, out
        for _pod, url in served:
            with urllib.request.urlopen(url, timeout=10) as resp:  # the demo serves its hostname
                assert resp.status == 200 and resp.read().strip()
        pods = {pod for pod, _ in served}
        # The real kubectl against this cluster: rollout status from the real controllers, logs
        # proxied by the gateway to the docker agent.
        kubectl = ["kubectl", "--server", up.server, "--request-timeout=20s"]
        rollout = subprocess.run([*kubectl, "rollout", "status", "deployment/web", "--timeout=30s"],
                                 capture_output=True, text=True, timeout=60)
        assert rollout.returncode == 0 and 'deployment "web" successfully rolled out' in rollout.stdout, rollout
        pod = sorted(pods)[0]
        logs = subprocess.run([*kubectl, "logs", pod], capture_output=True, text=True, timeout=60)
        assert logs.returncode == 0 and "web serving" in logs.stdout, logs
        ours = [c.id for c in docker_client.containers.list(all=True, filters={"label": "kubelite.node=node-1"})
                if c.labels.get("kubelite.pod.name") in pods]
        assert ours, "the demo's containers should carry the kubelite labels"
        assert_agent_is_its_node_at_etcd(up, "node-1", pod)

        assert up.stop() == 0, up.output()
        left = [cid for cid in ours if _container_exists(docker_client, cid)]
        assert not left, f"containers left behind: {left}"
        assert "no container left" in up.output()
    finally:
        up.stop()
        up.kill_leftovers()


def assert_agent_is_its_node_at_etcd(up: KlUp, node: str, pod: str) -> None:
    """The docker agent reaches kl up's etcd with its own certificate (etcd user ``system:node:<node>``),
    which reads the pod but may not write it (tests/security/test_etcd_node_roles.py: the whole role)."""
    state = up.state_now()
    d = up.data_dir / "pki" / "etcd"
    argv = Path(f"/proc/{state['processes'][node]}/cmdline").read_bytes().split(b"\0")
    assert str(d / f"node-{node}.crt").encode() in argv and b"--write-through-api" in argv, argv
    etcdctl = [str(find_etcdctl_binary()), "--endpoints", f"https://{state['etcd']}", "--cacert", str(d / "ca.crt"),
               "--cert", str(d / f"node-{node}.crt"), "--key", str(d / f"node-{node}.key"), "--command-timeout=10s"]
    key = f"/registry/pods/default/{pod}"
    read = subprocess.run([*etcdctl, "get", key, "--keys-only"], capture_output=True, text=True, timeout=60)
    assert read.returncode == 0 and key in read.stdout, read.stderr
    write = subprocess.run([*etcdctl, "put", key, "{}"], capture_output=True, text=True, timeout=60)
    assert write.returncode != 0 and "permission denied" in write.stderr, write


def _container_exists(client: docker.DockerClient, container_id: str) -> bool:
    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return True
