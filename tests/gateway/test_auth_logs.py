"""Token authentication, the read-only group, HTTPS, and the pods/log proxy to a (fake) agent."""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from kubelite.node.agent_auth import node_token
from kubelite.api.core import Node
from kubelite.api.errors import ApiError
from kubelite.api.resources import NODES, PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway, GatewayConfig
from kubelite.gateway.auth import request_credentials, websocket_protocols, without_bearer_protocol
from tests.factories import make_pod
from tests.gateway.conftest import Kubectl, gateway_config

pytestmark = pytest.mark.timeout(90)

TOKENS = 'admin-token,admin,1,"system:masters"\nviewer-token,viewer,2,kubelite:readonly\n'
PODS_PATH = "/api/v1/namespaces/default/pods"
AGENT_SECRET = "agent-secret"


def node_at(name: str, endpoint: str, **annotations: str) -> Node:
    """A Node whose agent listens at ``endpoint`` (http://IP:PORT), as an agent registers it."""
    ip, port = endpoint.removeprefix("http://").rsplit(":", 1)
    return Node.model_validate({
        "metadata": {"name": name, "annotations": annotations or None},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": int(port)}}}})


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (kubectl sends tokens over HTTPS only)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",  # noqa: S607
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
async def secured(etcd: EmbeddedEtcd, tmp_path: Path, tls_files: tuple[Path, Path]) -> AsyncIterator[Gateway]:
    token_file = tmp_path / "tokens.csv"
    token_file.write_text(TOKENS)
    agent_secret = tmp_path / "agent-secret"
    agent_secret.write_text(f"{AGENT_SECRET}\n")
    cert, key = tls_files
    gw = Gateway(gateway_config(etcd, token_file=token_file, agent_secret_file=agent_secret, tls_cert=cert,
                                tls_key=key))
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


async def test_tokens_and_readonly_group(secured: Gateway) -> None:
    async with aiohttp.ClientSession(base_url=secured.url, connector=aiohttp.TCPConnector(ssl=False)) as http:
        async with http.get("/healthz") as r:
            assert r.status == 200
        async with http.get(PODS_PATH) as r:
            assert r.status == 401 and (await r.json())["reason"] == "Unauthorized"
        async with http.get("/version", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        viewer = {"Authorization": "Bearer viewer-token"}
        async with http.get(PODS_PATH, headers=viewer) as r:
            assert r.status == 200
        pod = make_pod("web").to_dict()
        async with http.post(PODS_PATH, json=pod, headers=viewer) as r:
            status = await r.json()
        assert r.status == 403 and status["reason"] == "Forbidden" and 'User "viewer"' in status["message"]
        async with http.post(PODS_PATH, json=pod, headers={"Authorization": "Bearer admin-token"}) as r:
            assert r.status == 201


async def test_kubectl_with_token(secured: Gateway, tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    kubectl = Kubectl(secured.url, tmp_path, token="viewer-token", ca_file=tls_files[0])
    assert "default" in (await kubectl("get", "namespaces")).stdout
    denied = await kubectl("create", "namespace", "team", check=False)
    assert denied.returncode == 1 and "Forbidden" in denied.stderr
    stranger = await Kubectl(secured.url, tmp_path, token="wrong", ca_file=tls_files[0])("get", "pods", check=False)
    assert stranger.returncode == 1 and "Unauthorized" in stranger.stderr


def test_refuses_open_gateway_on_non_loopback_address() -> None:
    with pytest.raises(ValueError, match="without --token-file"):
        GatewayConfig(host="0.0.0.0").check()  # noqa: S104 - the address being refused
    result = subprocess.run([sys.executable, "-m", "kubelite.gateway", "--listen", "0.0.0.0:0"],  # noqa: S603
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "without --token-file" in result.stderr


@pytest.fixture
async def fake_agent() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An agent log endpoint: 3 lines, then (with follow) one more line a moment later."""
    requests: list[web.Request] = []

    async def log(request: web.Request) -> web.StreamResponse:
        requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {node_token(AGENT_SECRET, 'node-1')}":
            return web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
        if request.match_info["name"] == "missing":
            return web.Response(status=404, text="no such container")
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(3):
            await response.write(f"line {i}\n".encode())
        if request.query.get("follow") == "true":
            await asyncio.sleep(0.3)
            await response.write(b"line 3\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/pods/{ns}/{name}/log", log)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", requests
    finally:
        await runner.cleanup()


async def test_logs_are_proxied_from_the_agent(secured: Gateway, fake_agent: tuple[str, list[web.Request]],
                                               tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    endpoint, requests = fake_agent
    assert secured.state is not None
    store = secured.state.store
    node = node_at("node-1", endpoint)
    await store.create(NODES, node)
    await store.create(PODS, make_pod("web", node="node-1"))
    await store.create(PODS, make_pod("missing", node="node-1"))
    await store.create(PODS, make_pod("pending"))
    kubectl = Kubectl(secured.url, tmp_path, token="admin-token", ca_file=tls_files[0])
    assert (await kubectl("logs", "web")).stdout == "line 0\nline 1\nline 2\n"
    followed = await kubectl("logs", "-f", "--tail=3", "--timestamps", "web")
    assert followed.stdout.endswith("line 3\n")
    assert requests[-1].query["container"] == "c" and requests[-1].query["follow"] == "true"
    assert requests[-1].query["tailLines"] == "3" and requests[-1].query["timestamps"] == "true"
    missing = await kubectl("logs", "missing", check=False)
    assert missing.returncode == 1 and "no such container" in missing.stderr
    pending = await kubectl("logs", "pending", check=False)
    assert pending.returncode == 1 and "not scheduled" in pending.stderr
    wrong = await kubectl("logs", "web", "-c", "nope", check=False)
    assert wrong.returncode == 1 and "container nope is not valid for pod web" in wrong.stderr


def bearer_protocol(token: str) -> str:
    return "base64url.bearer.authorization.k8s.io." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def test_bearer_subprotocol_is_read_only_from_websocket_upgrades() -> None:
    upgrade = {"Connection": "keep-alive, Upgrade", "Upgrade": "websocket",
               "Sec-WebSocket-Protocol": f"v5.channel.k8s.io, {bearer_protocol('admin-token')}"}
    assert request_credentials(upgrade) == "Bearer admin-token"
    assert request_credentials({**upgrade, "Authorization": "Bearer other"}) == "Bearer other"  # the header wins
    assert request_credentials({**upgrade, "Upgrade": ""}) is None  # a plain request: never from the protocol
    assert without_bearer_protocol(("v5.channel.k8s.io", bearer_protocol("x"))) == ("v5.channel.k8s.io",)
    for bad in (f"{bearer_protocol('a')}, {bearer_protocol('b')}", "base64url.bearer.authorization.k8s.io.",
                "base64url.bearer.authorization.k8s.io.YQ==", "base64url.bearer.authorization.k8s.io.%%"):
        with pytest.raises(ApiError) as caught:
            request_credentials({**upgrade, "Sec-WebSocket-Protocol": bad})
        assert caught.value.code == 401


async def test_websocket_token_in_subprotocol(secured: Gateway, tls_files: tuple[Path, Path]) -> None:
    """Wrong token in the subprotocol → 401 before any upgrade; the right one → the exec stream is
    proxied, the agent negotiates v5 and never sees the token."""
    seen: list[tuple[str, ...]] = []

    async def exec_(request: web.Request) -> web.StreamResponse:
        seen.append(websocket_protocols(request.headers.get("Sec-WebSocket-Protocol")))
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        await ws.send_bytes(b"\x01hi")
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/pods/{ns}/{name}/exec", exec_)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        assert secured.state is not None
        await secured.state.store.create(NODES, node_at("node-1", f"http://127.0.0.1:{runner.addresses[0][1]}"))
        await secured.state.store.create(PODS, make_pod("web", node="node-1"))
        url = f"{secured.url}/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true&tty=true"
        tls = ssl.create_default_context(cafile=str(tls_files[0]))
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, protocols=("v5.channel.k8s.io", bearer_protocol("wrong")), ssl=tls)
            assert refused.value.status == 401 and seen == []
            async with http.ws_connect(url, protocols=("v5.channel.k8s.io", bearer_protocol("admin-token")),
                                       ssl=tls) as ws:
                assert ws.protocol == "v5.channel.k8s.io"
                assert (await ws.receive_bytes(timeout=10)) == b"\x01hi"
        assert seen == [("v5.channel.k8s.io",)]
    finally:
        await runner.cleanup()
