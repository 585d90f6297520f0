"""pods/log goes only where the node itself says its agent is, with that node's own token
(case r07: a Node annotation once sent the cluster-wide agent token to any URL).

Real parts: the gateway, two in-process agents (sim runtime) on the same etcd, and a
real HTTP server standing in for an attacker's listener, which must receive nothing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from kubelite.node.agent_auth import NoAgentEndpoint, agent_endpoint, node_token
from kubelite.api.core import Node, NodeStatus
from kubelite.api.resources import NODES, PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent, start_agent  # noqa: F401 - the agents fixture, used here too
from tests.agent.test_rediscovery_and_lease import running, sleeper
from tests.gateway.conftest import gateway_config, stop_or_explain
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)
SECRET = "cluster-agent-secret"


def status(ip: str, port: int) -> NodeStatus:
    return NodeStatus.model_validate({"addresses": [{"type": "InternalIP", "address": ip}],
                                      "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}})


def test_endpoint_comes_from_status_and_refuses_non_agent_addresses() -> None:
    assert agent_endpoint("n", status("10.0.1.7", 10250)) == "http://10.0.1.7:10250"
    assert agent_endpoint("n", status("fd00::7", 10250)) == "http://[fd00::7]:10250"
    for ip, port, why in (("169.254.169.254", 80, "cannot be"), ("0.0.0.0", 80, "cannot be"),  # noqa: S104
                          ("224.0.0.1", 80, "cannot be"), ("evil.example.com", 80, "not an IP"),
                          ("10.0.0.1", 70000, "out of range")):
        with pytest.raises(NoAgentEndpoint, match=why):
            agent_endpoint("n", status(ip, port))
    with pytest.raises(NoAgentEndpoint, match="reports no agent address"):
        agent_endpoint("n", None)


def test_node_tokens_differ_per_node_and_hide_the_secret() -> None:
    a, b = node_token(SECRET, "node-a"), node_token(SECRET, "node-b")
    assert a != b and a == node_token(SECRET, "node-a") and SECRET not in a and len(a) == 43
    assert node_token("another-secret", "node-a") != a


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A foreign HTTP server that records every request (path and Authorization header)."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(f"{request.path} {request.headers.get('Authorization')}")
        return web.Response(text="answer from a foreign server\n")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1], seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def gateway(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Gateway]:
    secret = tmp_path / "agent-secret"
    secret.write_text(SECRET + "\n")
    gw = Gateway(gateway_config(etcd, agent_secret_file=secret))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


async def get_log(http: aiohttp.ClientSession, pod: str) -> tuple[int, str]:
    async with http.get(f"/api/v1/namespaces/default/pods/{pod}/log") as r:
        return r.status, await r.text()


async def patch_node(http: aiohttp.ClientSession, node: str, body: dict[str, object], sub: str = "") -> int:
    async with http.patch(f"/api/v1/nodes/{node}{sub}", data=json.dumps(body),
                          headers={"Content-Type": "application/merge-patch+json"}) as r:
        return r.status


async def test_annotation_is_ignored_and_each_agent_takes_only_its_token(
    store: Store, gateway: Gateway, start_agent: StartAgent, listener: tuple[int, list[str]],
) -> None:
    port, seen = listener
    agent_a = await start_agent("node-a", token=node_token(SECRET, "node-a"))
    agent_b = await start_agent("node-b", token=node_token(SECRET, "node-b"))
    await store.create(PODS, sleeper("p", "node-a"))
    await wait_for(lambda: running(store, "p"), 10, message="pod running on node-a")
    foreign = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(base_url=gateway.url) as http:
        # Anyone may annotate a Node: the old endpoint annotation, and a status change through the
        # main resource (Kubernetes ignores status there), leave the agent's address alone.
        assert await patch_node(http, "node-a", {"metadata": {"annotations": {
            "kubelite.io/agent-endpoint": foreign}}}) == 200
        assert await patch_node(http, "node-a", {"status": {"addresses": [
            {"type": "InternalIP", "address": "127.0.0.2"}]}}) == 200
        code, text = await get_log(http, "p")
        assert code == 200 and re.search(r"sim: kl_node-a_default_p_app_\S+ running", text), text  # node-a's agent
        assert seen == []

        # A token is one node's: node-a's opens node-b's agent no more than a wrong one does.
        async with aiohttp.ClientSession() as direct:
            for token, expected in ((node_token(SECRET, "node-a"), 401), (SECRET, 401),
                                    (node_token(SECRET, "node-b"), 200)):
                async with direct.get(f"{agent_b.api.endpoint}/healthz",
                                      headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == expected, token

        # Addresses that are never an agent's are refused before any connection.
        assert await patch_node(http, "node-a", {"status": {"addresses": [
            {"type": "InternalIP", "address": "169.254.169.254"}]}}, "/status") == 200
        code, text = await get_log(http, "p")
        assert code == 503 and "cannot be an agent's address" in text
        assert seen == []
    assert agent_a.api is not None


async def test_node_without_a_reported_endpoint_gets_no_request(
    store: Store, gateway: Gateway, listener: tuple[int, list[str]],
) -> None:
    port, seen = listener
    await store.create(NODES, Node.model_validate({"metadata": {"name": "bare", "annotations": {
        "kubelite.io/agent-endpoint": f"http://127.0.0.1:{port}"}}}))
    await store.create(PODS, sleeper("q", "bare"))
    async with aiohttp.ClientSession(base_url=gateway.url) as http:
        code, text = await get_log(http, "q")
    assert code == 503 and "reports no agent address" in text
    assert seen == []
