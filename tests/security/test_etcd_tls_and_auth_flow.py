"""The basic flow (apply a Deployment through the gateway → pods Running on sim agents) with
every component reaching etcd over client TLS, and then as an etcd user with a password.
Also: the agent API refuses requests without its token, and no secret shows in any
process's arguments or logs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aiohttp
import pytest

from kubelite.api.resources import NODES
from kubelite.etcd.server import EmbeddedEtcd, EtcdTLSFiles, find_etcdctl_binary
from kubelite.node.agent_auth import agent_endpoint, node_token
from kubelite.testing import AGENT_TOKEN, Api, Processes, EtcdAccess, Expect, wait_converged

PASSWORD = "etcd-pa55word-for-the-test"


async def basic_flow(cluster: Processes) -> None:
    """Manager, gateway, two sim agents; a Deployment of 3 converges."""
    _, nodes = cluster.start_sim_agents("sim", 2)
    cluster.start_manager("cm-1")
    cluster.start_gateway()
    await cluster.wait_ready(nodes)
    async with Api(cluster.gateway_url) as api:
        await api.until_ok(lambda: api.create_deployment("web", 3), what="create web")
        await wait_converged(cluster, {"web": Expect(3)}, 60)
        await api.until_ok(lambda: api.roll("web", "v2"), what="roll web")
        await wait_converged(cluster, {"web": Expect(3, "v2")}, 60)
    cluster.check_alive()


def assert_no_secret_in_argv_or_logs(cluster: Processes, secrets: list[str]) -> None:
    for proc in cluster.procs.values():
        assert proc.popen is not None
        argv = Path(f"/proc/{proc.popen.pid}/cmdline").read_bytes().decode(errors="replace")
        log = proc.log_path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in argv, f"{proc.name}: a secret in its arguments"
            assert secret not in log, f"{proc.name}: a secret in its log"


async def test_basic_flow_over_etcd_client_tls(tmp_path: Path, pki: dict[str, str]) -> None:
    tls = EtcdTLSFiles(cert_file=pki["server.crt"], key_file=pki["server.key"], ca_file=pki["ca.crt"])
    async with EmbeddedEtcd(data_dir=tmp_path / "etcd", tls=tls) as etcd:
        access = EtcdAccess((etcd.endpoint,), ca_file=pki["ca.crt"], cert_file=pki["client.crt"],
                            key_file=pki["client.key"])
        cluster = Processes(access, tmp_path / "run")
        try:
            await basic_flow(cluster)
            await agent_api_wants_its_token(cluster)
            assert_no_secret_in_argv_or_logs(cluster, [AGENT_TOKEN, Path(pki["client.key"]).read_text()[40:80]])
        finally:
            await cluster.close()
        # Without a client certificate a component cannot even start its work.
        bare = Processes(EtcdAccess((etcd.endpoint,), ca_file=pki["ca.crt"]), tmp_path / "bare")
        try:
            proc = bare.start_manager("cm-no-cert")
            assert proc.popen is not None
            try:
                proc.popen.wait(20)
            except subprocess.TimeoutExpired:
                pass
            # It exits or keeps failing on the TLS handshake: it never gets to work.
            log = proc.log_path.read_text()
            assert "started (informers synced)" not in log and "CERTIFICATE" in log.upper(), log[-500:]
        finally:
            await bare.close()


@pytest.mark.skip_stored_object_check(reason="etcd's auth is on at the end: the fixture's anonymous reader is refused")
async def test_basic_flow_as_an_etcd_user_with_a_password(etcd: EmbeddedEtcd, tmp_path: Path) -> None:
    etcdctl = [str(find_etcdctl_binary()), f"--endpoints={etcd.endpoint}"]
    for command in (["user", "add", "root", "--new-user-password", "root-pw-for-the-test", "--interactive=false"],
                    ["user", "add", "kubelite", "--new-user-password", PASSWORD, "--interactive=false"],
                    ["user", "grant-role", "kubelite", "root"], ["auth", "enable"]):
        subprocess.run([*etcdctl, *command], check=True, capture_output=True)
    (tmp_path / "run").mkdir()
    password_file = tmp_path / "etcd-password"
    password_file.write_text(PASSWORD + "\n")
    access = EtcdAccess((etcd.endpoint,), user="kubelite", password_file=str(password_file))
    cluster = Processes(access, tmp_path / "run")
    try:
        await basic_flow(cluster)
        assert_no_secret_in_argv_or_logs(cluster, [PASSWORD, AGENT_TOKEN])
    finally:
        await cluster.close()
    # A wrong password: the component says so and never works.
    password_file.write_text("not-the-password\n")
    wrong = Processes(access, tmp_path / "wrong")
    try:
        proc = wrong.start_manager("cm-wrong-password")
        assert proc.popen is not None
        try:
            proc.popen.wait(20)
        except subprocess.TimeoutExpired:
            pass
        log = proc.log_path.read_text()
        assert "started (informers synced)" not in log and "not-the-password" not in log
        assert "authentication as 'kubelite' failed" in log, log[-500:]
    finally:
        await wrong.close()


async def agent_api_wants_its_token(cluster: Processes) -> None:
    store = await cluster.connect_store()
    nodes = {n.name: agent_endpoint(n.name, n.status) for n in (await store.list(NODES)).items}
    assert nodes
    async with aiohttp.ClientSession() as http:
        for node, endpoint in nodes.items():
            for path in ("/healthz", "/metrics", "/pods/default/x/log", "/nothing"):
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {AGENT_TOKEN}"}):
                    async with http.get(f"{endpoint}{path}", headers=headers) as response:
                        assert response.status == 401, (endpoint, path, headers, response.status)
            # The cluster secret itself is no agent's token: each agent takes only its node's.
            async with http.get(f"{endpoint}/healthz", headers={"Authorization": f"Bearer {AGENT_TOKEN}"}) as response:
                assert response.status == 401
            own = {"Authorization": f"Bearer {node_token(AGENT_TOKEN, node)}"}
            async with http.get(f"{endpoint}/healthz", headers=own) as response:
                assert response.status == 200
