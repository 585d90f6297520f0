"""`kl up` end to end (sim runtime): the cluster comes up, `kl get nodes` shows
the nodes Ready, and SIGTERM stops every process it started."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.cli.cluster import KlUp, alive, kl_argv, run_sync
from tests.cli.e2e import require_components


def test_kl_up_sim_starts_and_sigterm_stops_everything(tmp_path: Path) -> None:
    require_components()
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "2"])
    up.start()
    try:
        run_sync(up.wait_up())
        out = up.output()
        assert "runtime: sim — as requested (--runtime sim)" in out
        assert up.server in out and str(tmp_path / "kl" / "kubeconfig") in out
        assert set(up.state["processes"]) == {"controller-manager", "gateway", "node-1", "node-2"}
        pids = up.pids()
        assert len(pids) == 5 and all(alive(pid) for pid in pids)

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
