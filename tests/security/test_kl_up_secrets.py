"""``kl up`` with every secret in play — the gateway's bearer token (it listens on a
non-loopback address, in a network namespace made for the test), the agent token, and an
etcd user's password (given through the environment), and the Secrets' encryption key — shows none of them in the arguments
(``ps``, /proc/<pid>/cmdline) of any process it starts, nor in their logs or its own output;
and the gateway really wants the token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubelite.node.agent_auth import node_token
from kubelite.etcd.server import find_etcd_binary, find_etcdctl_binary
from kubelite.testing.waiting import wait_for_sync

ADDRESS = "10.213.7.1"  # on the namespace's own loopback device: reachable only inside it
PASSWORD = "etcd-pw-" + uuid.uuid4().hex
KL = str(Path(sys.executable).parent / "kl")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[str]:
    """A network namespace with lo up and ADDRESS, and an etcd with auth enabled inside it."""
    name = f"klsec-{uuid.uuid4().hex[:6]}"
    run("ip", "netns", "add", name)
    etcd: subprocess.Popen[bytes] | None = None
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "-n", name, "addr", "add", f"{ADDRESS}/32", "dev", "lo")
        with open(tmp_path / "etcd.log", "wb") as log:
            etcd = subprocess.Popen([
                "ip", "netns", "exec", name, str(find_etcd_binary()), "--name", "s", "--data-dir",
                str(tmp_path / "etcd"), "--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls",
                "http://127.0.0.1:2379", "--listen-peer-urls", "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster", "s=http://127.0.0.1:2380",
            ], stdout=log, stderr=subprocess.STDOUT)
        etcdctl = ["ip", "netns", "exec", name, str(find_etcdctl_binary()), "--endpoints=127.0.0.1:2379"]
        healthy = [*etcdctl, "--command-timeout=1s", "endpoint", "health"]
        wait_for_sync(lambda: subprocess.run(healthy, capture_output=True).returncode == 0, 30, 0.2,
                      message="etcd in the namespace")
        run(*etcdctl, "user", "add", "root", "--new-user-password", "root-" + PASSWORD, "--interactive=false")
        subprocess.run([*etcdctl, "user", "add", "kubelite", "--interactive=false", "--new-user-password", PASSWORD],
                       check=True, capture_output=True)
        run(*etcdctl, "user", "grant-role", "kubelite", "root")
        run(*etcdctl, "auth", "enable")
        yield name
    finally:
        if etcd is not None:
            etcd.terminate()
            try:
                etcd.wait(10)
            except subprocess.TimeoutExpired:
                etcd.kill()
                etcd.wait(5)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


async def test_kl_up_keeps_every_secret_out_of_arguments_and_logs(netns: str, tmp_path: Path) -> None:
    data = tmp_path / "kl"
    env = {**os.environ, "KUBELITE_ETCD_USER": "kubelite", "KUBELITE_ETCD_PASSWORD": PASSWORD,
           "PYTHONUNBUFFERED": "1"}
    up = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, KL, "up", "--nodes", "2", "--runtime", "sim", "--listen", f"{ADDRESS}:8080",
        "--data-dir", str(data), "--etcd-endpoints", "127.0.0.1:2379", "--ready-timeout", "60",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output: list[str] = []
    try:
        assert up.stdout is not None

        async def banner() -> None:
            async for raw in up.stdout:  # type: ignore[union-attr]
                output.append(raw.decode())
                if "kubelite is up" in output[-1]:
                    return
            raise AssertionError("kl up ended:\n" + "".join(output))

        await asyncio.wait_for(banner(), 90)
        state = json.loads((data / "up.json").read_text())
        pids = {name: int(pid) for name, pid in state["processes"].items()}
        assert {"control-plane", "sim-nodes-1-2"} <= set(pids)
        token = (data / "tokens.csv").read_text().split(",", 1)[0].strip()
        agent_secret = (data / "agent-secret").read_text().strip()
        # The shared sim agent process derives each node's token from the agent secret file.
        node_tokens = {n: node_token(agent_secret, n) for n in ("node-1", "node-2")}
        encryption_key = yaml.safe_load((data / "encryption.yaml").read_text())[
            "resources"][0]["providers"][0]["aescbc"]["keys"][0]["secret"]
        secrets = {"gateway token": token, "agent secret": agent_secret, "etcd password": PASSWORD,
                   "encryption key": encryption_key, **{f"{n}'s agent token": t for n, t in node_tokens.items()}}
        assert len(token) > 16 and len(agent_secret) > 16 and len(set(node_tokens.values())) == 2

        ps = run("ps", "-eo", "pid,args").stdout
        for name, pid in pids.items():
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            assert "python" in argv, (name, argv)
            for what, secret in secrets.items():
                assert secret not in argv, f"{what} in the arguments of {name}"
        for what, secret in secrets.items():
            assert secret not in ps, f"{what} in `ps` output"
        logs = list((data / "logs").glob("*.log"))
        assert {log.name for log in logs} >= {"control-plane.log", "sim-nodes-1-2.log"}
        for log in logs:
            text = log.read_text(errors="replace")
            for what, secret in secrets.items():
                assert secret not in text, f"{what} in {log.name}"
        for what, secret in secrets.items():
            assert secret not in "".join(output), f"{what} in kl up's output"

        # The token is really needed (and works): curl inside the namespace, the header from a file.
        header = tmp_path / "auth-header"
        header.write_text(f"Authorization: Bearer {token}\n")
        # kl up serves HTTPS by default: plain HTTP off loopback gets kube-apiserver's 400
        curl = ["ip", "netns", "exec", netns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                "--cacert", str(data / "pki" / "ca.crt")]
        assert run(*curl, f"https://{ADDRESS}:8080/api/v1/nodes").stdout == "401"
        assert run(*curl, f"http://{ADDRESS}:8080/api/v1/nodes").stdout == "400"
        assert run(*curl, "-H", f"@{header}", f"https://{ADDRESS}:8080/api/v1/nodes").stdout == "200"
        nodes = run("ip", "netns", "exec", netns, "env", f"KUBECONFIG={data / 'kubeconfig'}", KL, "get", "nodes").stdout
        assert "node-1" in nodes and "Ready" in nodes
        # kl up's gateway keeps an audit log of writes (<data-dir>/audit.log, 0600), with no credential in it
        created = run(*curl, "-H", f"@{header}", "-H", "Content-Type: application/json", "-d",
                      '{"metadata": {"name": "audited"}}', f"https://{ADDRESS}:8080/api/v1/namespaces/default/configmaps")
        assert created.stdout == "201"
        audit_log = data / "audit.log"

        def audited() -> bool:
            return audit_log.exists() and '"name":"audited"' in audit_log.read_text()
        wait_for_sync(audited, 15, 0.2, message="the configmap's create in the audit log")
        assert audit_log.stat().st_mode & 0o777 == 0o600
        event = next(json.loads(line) for line in audit_log.read_text().splitlines() if '"audited"' in line)
        assert event["verb"] == "create" and event["responseStatus"]["code"] == 201 and event["level"] == "Metadata"
        for what, secret in secrets.items():
            assert secret not in audit_log.read_text(), f"{what} in the audit log"
    finally:
        if up.returncode is None:
            up.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(up.wait(), 60)
            except TimeoutError:
                up.kill()
                await up.wait()
    assert up.returncode == 0, "".join(output[-20:])
