"""Streaming subresources on the sim runtime (a clear Status, never a hang), their authorisation
(``create``, so the read-only group cannot exec) and discovery; real kubectl, gateway and agent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kubelite.node.agent_auth import node_token
from kubelite.api import parse_object
from kubelite.api.resources import PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent
from tests.gateway.conftest import Kubectl, gateway_config, stop_or_explain
from tests.gateway.test_auth_logs import TOKENS, tls_files  # noqa: F401 - the fixture
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(120)

SECRET = "test-agent-secret"
EXEC = "/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true"


@pytest.fixture
async def secured(etcd: EmbeddedEtcd, tmp_path: Path, tls_files: tuple[Path, Path]) -> AsyncIterator[Gateway]:  # noqa: F811
    token_file, secret_file = tmp_path / "tokens.csv", tmp_path / "agent-secret"
    token_file.write_text(TOKENS)
    secret_file.write_text(SECRET)
    cert, key = tls_files
    gw = Gateway(gateway_config(etcd, token_file=token_file, agent_secret_file=secret_file, tls_cert=cert,
                                tls_key=key))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


async def test_sim_runtime_answers_a_status_and_readonly_users_cannot_exec(
    secured: Gateway, store: Store, start_agent: StartAgent, node_name: str, tmp_path: Path,
    tls_files: tuple[Path, Path],  # noqa: F811
) -> None:
    await start_agent(node_name, token=node_token(SECRET, node_name))
    await store.create(PODS, parse_object({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box", "namespace": "default"},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": "kubelite/demo:latest"}]}}))

    async def running() -> bool:
        current = await store.get(PODS, "box", "default")
        return bool(current.status and current.status.phase == "Running")
    await wait_for(running, 30, message="the sim pod runs")

    home = tmp_path / "home"
    home.mkdir()
    kubectl = Kubectl(secured.url, home, token="admin-token", ca_file=tls_files[0])
    for argv, what in ((("exec", "box", "--", "true"), "pods/exec"), (("attach", "box"), "pods/attach"),
                       (("port-forward", "pod/box", "0:80"), "pods/portforward")):
        started = time.monotonic()
        result = await kubectl(*argv, check=False, timeout=30)
        assert result.returncode == 1, result
        assert f"{what} is not possible on node {node_name}: its sim runtime runs no processes" in result.stderr
        assert time.monotonic() - started < 15  # an answer, not a hang

    await store.create(PODS, parse_object({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending", "namespace": "default"},
        "spec": {"containers": [{"name": "main", "image": "kubelite/demo:latest"}]}}))
    unscheduled = await kubectl("exec", "pending", "--", "true", check=False, timeout=30)
    assert unscheduled.returncode == 1 and 'pod "pending" is not scheduled to a node yet' in unscheduled.stderr

    async with aiohttp.ClientSession(base_url=secured.url, connector=aiohttp.TCPConnector(ssl=False)) as http:
        async with http.get("/api/v1", headers={"Authorization": "Bearer viewer-token"}) as r:
            listed = {res["name"]: res for res in (await r.json())["resources"]}
        for sub, kind in (("exec", "PodExecOptions"), ("attach", "PodAttachOptions"),
                          ("portforward", "PodPortForwardOptions")):
            assert listed[f"pods/{sub}"]["verbs"] == ["create", "get"] and listed[f"pods/{sub}"]["kind"] == kind
        # a WebSocket upgrade is a GET, but opening a stream into a pod is `create`: read-only users may not
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(EXEC, protocols=("v5.channel.k8s.io",),
                                  headers={"Authorization": "Bearer viewer-token"})
        assert refused.value.status == 403
        async with http.get(EXEC, headers={"Authorization": "Bearer viewer-token"}) as r:
            status = await r.json()
        assert r.status == 403 and 'cannot create resource "pods/exec"' in status["message"]
