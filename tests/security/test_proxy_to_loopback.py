"""services/proxy and pods/proxy must not reach this host's loopback (kube's proxyutil.IsProxyableIP).

With ``--plain-http-uid`` the gateway's own plain HTTP on loopback is the local owner's, a cluster
admin (kubelite.gateway.tlssniff) — and the gateway itself runs as that owner. An EndpointSlice naming
127.0.0.1 and the gateway's port would make ``services/NAME/proxy/...`` a request of the gateway to
itself, served as ``kubelite:uid:<owner>``: a user allowed only Services, EndpointSlices and
services/proxy in one namespace would read every Secret. Real gateway, TLS clients and RBAC.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from kubelite.auth import pki
from kubelite.etcd.server import free_port
from kubelite.testing import Processes
from tests.helpers import wait_for


async def call(url: str, ca: pki.Issued, pair: pki.Issued, directory: Path, method: str, path: str,
               body: Any = None) -> tuple[int, Any]:
    directory.mkdir(exist_ok=True)
    pki.write_pair(directory, "client", pair)
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    context.load_cert_chain(directory / "client.crt", directory / "client.key")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        async with http.request(method, url + path, json=body, timeout=aiohttp.ClientTimeout(total=30)) as response:
            text = await response.text()
            return response.status, json.loads(text) if text.startswith("{") else text


async def owner_gateway(processes: Processes, tmp_path: Path) -> dict[str, pki.Issued]:
    """A gateway as kl up runs it (TLS, client CA, RBAC, plain HTTP for this user), ready; its PKI."""
    d = tmp_path / "pki"
    made = pki.ensure_cluster_pki(d, ("127.0.0.1", "localhost"))
    processes.start_gateway("gateway", "--tls-cert", str(d / "apiserver.crt"), "--tls-key", str(d / "apiserver.key"),
                            "--client-ca-file", str(d / "ca.crt"), "--authorization-mode", "RBAC",
                            "--plain-http-uid", str(os.getuid()))
    await processes.wait_gateway_ready()
    return made


async def test_a_service_endpoint_on_loopback_is_not_proxied(processes: Processes, tmp_path: Path) -> None:
    made = await owner_gateway(processes, tmp_path)
    url, ca, admin = processes.gateway_url, made["ca"], made["admin"]
    mallory = pki.issue(ca, common_name="mallory")
    clients = tmp_path / "clients"
    port = int(url.rsplit(":", 1)[1])

    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "svc"},
            "rules": [{"apiGroups": [""], "resources": ["services", "services/proxy"], "verbs": ["create", "get"]},
                      {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "svc"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "svc"},
               "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}]}
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"
    for path, doc in ((f"{rbac}/roles", role), (f"{rbac}/rolebindings", binding)):
        status, answer = await call(url, ca, admin, clients, "POST", path, doc)
        assert status == 201, answer

    service = {"metadata": {"name": "loop"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
    endpoints = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": "loop-1", "labels": {"kubernetes.io/service-name": "loop"}},
                 "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
                 "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}

    async def created() -> bool:  # the gateway's RBAC informers see the binding (watch-driven)
        status, _ = await call(url, ca, mallory, clients, "POST", "/api/v1/namespaces/default/services", service)
        return status == 201
    await wait_for(created, 30, 0.2, message="mallory may create Services")
    status, answer = await call(url, ca, mallory, clients, "POST",
                                "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", endpoints)
    assert status == 201, answer
    status, answer = await call(url, ca, mallory, clients, "GET", "/api/v1/namespaces/kube-system/secrets")
    assert status == 403, answer  # mallory's own rights

    # through the proxy, to the gateway's own loopback port: kube's 400, not a SecretList
    status, answer = await call(url, ca, mallory, clients, "GET",
                                "/api/v1/namespaces/default/services/loop:http/proxy/api/v1/namespaces/kube-system/secrets")
    assert status == 400 and isinstance(answer, dict) and "address not allowed" in answer["message"], answer


def host_address() -> str:
    """This host's address on its default route (not loopback: the proxy refuses that)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the route's source address
        return str(probe.getsockname()[0])


async def test_a_page_proxied_over_the_owner_s_plain_http_is_sandboxed(processes: Processes, tmp_path: Path) -> None:
    """A pod's page opened at http://127.0.0.1:PORT/.../proxy/ would run in the origin where the owner's
    browser is a cluster admin (its same-origin POSTs pass the Origin check): it must be sandboxed."""
    await owner_gateway(processes, tmp_path)
    plain = processes.gateway_url.replace("https://", "http://")

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<script>fetch('/api/v1/namespaces', {method: 'POST'})</script>",
                            content_type="text/html")
    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    address, port = host_address(), free_port()
    await web.TCPSite(runner, address, port).start()
    try:
        async with aiohttp.ClientSession() as http:  # as the owner (our uid), over plain HTTP
            for path, doc in (("/api/v1/namespaces/default/services",
                               {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}]}}),
                              ("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                               {"metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
                                "addressType": "IPv4", "endpoints": [{"addresses": [address]}],
                                "ports": [{"name": "http", "port": port, "protocol": "TCP"}]})):
                async with http.post(plain + path, json=doc) as response:
                    assert response.status == 201, await response.text()
            async with http.get(f"{plain}/api/v1/namespaces/default/services/web:http/proxy/") as response:
                assert response.status == 200 and "<script>" in await response.text()
                assert "sandbox" in response.headers.getall("Content-Security-Policy", []), response.headers
    finally:
        await runner.cleanup()


async def test_nodes_proxy_to_a_node_endpoint_on_the_gateway_s_own_port_is_not_the_owner(
        processes: Processes, tmp_path: Path) -> None:
    """A Node whose agent endpoint is the gateway's own plain port (sim agents listen on loopback, so
    loopback endpoints are allowed): ``nodes/NAME/proxy/...`` relays carry ``Via: 1.1 kubelite-gateway``,
    and a relayed request is never the local owner's, so it is not served as a cluster admin."""
    made = await owner_gateway(processes, tmp_path)
    url, ca, admin = processes.gateway_url, made["ca"], made["admin"]
    clients = tmp_path / "clients"
    port = int(url.rsplit(":", 1)[1])
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "loop"}}
    assert (await call(url, ca, admin, clients, "POST", "/api/v1/nodes", node))[0] == 201
    status, current = await call(url, ca, admin, clients, "GET", "/api/v1/nodes/loop")
    assert status == 200, current
    current["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                         "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
    status, answer = await call(url, ca, admin, clients, "PUT", "/api/v1/nodes/loop/status", current)
    assert status == 200, answer
    status, answer = await call(url, ca, admin, clients, "GET",
                                "/api/v1/nodes/loop/proxy/api/v1/namespaces/kube-system/secrets")
    assert status == 401, answer  # the relayed request reached the gateway unauthenticated, not as its owner
