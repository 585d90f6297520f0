"""Services through the gateway on a real etcd: defaulting, ClusterIP/NodePort allocation (one etcd
key per address, claimed in the Service's own transaction), bad input, and the ``kubernetes`` Service."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

import aiohttp

from kubelite.etcd.ops import prefix_end, range_
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.registry.service_alloc import IP_PREFIX, NODE_PORT_PREFIX, ServiceRanges
from tests.gateway.conftest import etcd_revision, gateway_config, stop_or_explain

BASE = "/api/v1/namespaces/default/services"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}


def svc(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"port": 80, "targetPort": 8080}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


async def claimed(gateway: Gateway, prefix: str) -> dict[str, str]:
    assert gateway.state is not None
    response = await range_(gateway.state.client, prefix, range_end=prefix_end(prefix), what="test claims")
    return {kv.key.decode().removeprefix(prefix): kv.value.decode() for kv in response.kvs}


async def post(api: aiohttp.ClientSession, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with api.post(BASE, json=doc) as response:
        return response.status, await response.json()


def fields(status: dict[str, Any]) -> list[str]:
    return [c.get("field") for c in status["details"]["causes"]]


async def test_cluster_ip_service_is_defaulted_allocated_and_released(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    code, body = await post(api, svc("web", selector={"app": "web"}))
    assert code == 201, body
    spec = body["spec"]
    ip = spec["clusterIP"]
    assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("10.96.0.0/12")
    assert spec["clusterIPs"] == [ip] and spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert body["status"] == {"loadBalancer": {}}
    assert (await claimed(gateway, IP_PREFIX))[ip] == "default/web"
    async with api.delete(f"{BASE}/web") as response:
        assert response.status == 200
    assert ip not in await claimed(gateway, IP_PREFIX)


async def test_requested_addresses_are_honoured_once_and_refused_when_taken(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    code, body = await post(api, svc("a", clusterIP="10.96.0.50", type="NodePort",
                                     ports=[{"port": 80, "nodePort": 30080}]))
    assert code == 201, body
    assert body["spec"]["clusterIP"] == "10.96.0.50" and body["spec"]["ports"][0]["nodePort"] == 30080
    assert body["spec"]["ports"][0]["targetPort"] == 80 and body["spec"]["externalTrafficPolicy"] == "Cluster"
    before = await etcd_revision(gateway)
    for doc, field, words in (
        (svc("b", clusterIP="10.96.0.50"), "spec.clusterIPs", "provided IP is already allocated"),
        (svc("b", clusterIP="10.0.0.1"), "spec.clusterIPs", "not in the valid range"),
        (svc("b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]), "spec.ports[0].nodePort",
         "provided port is already allocated"),
        (svc("b", type="NodePort", ports=[{"port": 80, "nodePort": 80}]), "spec.ports[0].nodePort",
         "provided port is not in the valid range. The range of valid ports is 30000-32767"),
        (svc("b", ports=[{"port": 80, "nodePort": 30100}]), "spec.ports[0].nodePort", "may not be used"),
        (svc("b", ports=[{"name": "x", "port": 80}, {"name": "x", "port": 81}]), "spec.ports[1].name", "Duplicate"),
        (svc("b", ports=[{"name": "x", "port": 80}, {"name": "y", "port": 80}]), "spec.ports[1]", "Duplicate"),
        (svc("b", ports=[{"port": 80}, {"port": 81}]), "spec.ports[1].name", "Required"),
        (svc("b", ports=[{"port": 80, "targetPort": "Http_Port"}]), "spec.ports[0].targetPort",
         "must contain only alpha-numeric characters"),
        (svc("b", ports=[{"port": 80, "targetPort": "a-very-long-port-name"}]), "spec.ports[0].targetPort",
         "must be no more than 15 characters"),
        (svc("b", ports=[{"port": 80, "targetPort": "web--x"}]), "spec.ports[0].targetPort", "consecutive hyphens"),
        (svc("b", ports=[{"port": 80, "targetPort": "8080"}]), "spec.ports[0].targetPort", "at least one letter"),
        (svc("b", clusterIP="None", type="NodePort"), "spec.clusterIPs[0]", "None"),
        (svc("b", type="ExternalName", ports=[]), "spec.externalName", "Required"),
        (svc("b", sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}}),
         "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "greater than 0"),
    ):
        code, status = await post(api, doc)
        assert code == 422 and field in fields(status), (doc, status)
        assert words in status["message"], status["message"]
    assert await etcd_revision(gateway) == before  # nothing claimed, nothing written
    assert set(await claimed(gateway, NODE_PORT_PREFIX)) == {"30080"}


async def test_updates_keep_allocated_values_refuse_a_new_cluster_ip_and_release_node_ports(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    code, body = await post(api, svc("np", type="NodePort", ports=[{"name": "http", "port": 80}]))
    assert code == 201, body
    ip, node_port = body["spec"]["clusterIP"], body["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    # a PUT that leaves out what was allocated (kubectl replace of the original manifest) keeps it
    replaced = svc("np", type="NodePort", ports=[{"name": "http", "port": 80}])
    replaced["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"]
    async with api.put(f"{BASE}/np", json=replaced) as response:
        kept = await response.json()
        assert response.status == 200, kept
    assert kept["spec"]["clusterIP"] == ip and kept["spec"]["ports"][0]["nodePort"] == node_port
    before = await etcd_revision(gateway)
    async with api.patch(f"{BASE}/np", data=json.dumps({"spec": {"clusterIP": "10.96.0.77",
                                                                 "clusterIPs": ["10.96.0.77"]}}),
                         headers=MERGE) as response:
        status = await response.json()
        assert response.status == 422 and "spec.clusterIPs[0]" in fields(status), status
        assert "may not change once set" in status["message"]
    assert await etcd_revision(gateway) == before
    # ports merge by `port` (strategic merge); a new port gets its own nodePort
    patch = {"spec": {"ports": [{"name": "https", "port": 443, "targetPort": "https"}]}}
    async with api.patch(f"{BASE}/np", data=json.dumps(patch), headers=STRATEGIC) as response:
        merged = await response.json()
        assert response.status == 200, merged
    ports = {p["port"]: p for p in merged["spec"]["ports"]}
    assert set(ports) == {80, 443} and ports[80]["nodePort"] == node_port and ports[443]["targetPort"] == "https"
    assert set(await claimed(gateway, NODE_PORT_PREFIX)) == {str(node_port), str(ports[443]["nodePort"])}
    # NodePort → ClusterIP gives the node ports back, keeps the cluster IP
    async with api.patch(f"{BASE}/np", data=json.dumps({"spec": {"type": "ClusterIP", "externalTrafficPolicy": None}}),
                         headers=STRATEGIC) as response:
        plain = await response.json()
        assert response.status == 200, plain["message"]
    assert all("nodePort" not in p for p in plain["spec"]["ports"]) and plain["spec"]["clusterIP"] == ip
    assert await claimed(gateway, NODE_PORT_PREFIX) == {}


async def test_headless_selectorless_external_name_and_client_ip_affinity(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    before = await claimed(gateway, IP_PREFIX)
    code, headless = await post(api, svc("db", clusterIP="None", selector={"app": "db"}))
    assert code == 201, headless
    assert headless["spec"]["clusterIPs"] == ["None"] and headless["spec"]["ipFamilyPolicy"] == "SingleStack"
    code, bare = await post(api, svc("bare", clusterIP="None"))  # selector-less headless: any family
    assert code == 201 and bare["spec"]["ipFamilyPolicy"] == "RequireDualStack", bare
    code, ext = await post(api, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                 "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert code == 201, ext
    assert "clusterIP" not in ext["spec"] and "ipFamilies" not in ext["spec"]
    assert await claimed(gateway, IP_PREFIX) == before  # none of them holds an address
    code, sticky = await post(api, svc("sticky", sessionAffinity="ClientIP"))
    assert code == 201, sticky["message"]
    assert sticky["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


async def test_kubernetes_service_lists_the_gateway(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    async with api.get(f"{BASE}/kubernetes") as response:
        service = await response.json()
    assert service["spec"]["clusterIP"] == "10.96.0.1" and service["spec"]["ports"][0]["port"] == 443
    async with api.get("/api/v1/namespaces/default/endpoints/kubernetes") as response:
        endpoints = await response.json()
    assert endpoints["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                                     "ports": [{"name": "https", "port": gateway.port, "protocol": "TCP"}]}]
    async with api.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes") as response:
        slice_ = await response.json()
    assert slice_["endpoints"][0]["addresses"] == ["127.0.0.1"] and slice_["ports"][0]["port"] == gateway.port


async def test_two_gateways_creating_at_once_never_share_an_address(etcd: EmbeddedEtcd) -> None:
    """A 62-address range and a 50-port range, 2 × 25 concurrent creates per kind through two gateways:
    collisions happen, and every service still ends with its own address (and etcd's claims agree)."""
    ranges = ServiceRanges("10.200.0.0/26", (31000, 31049))
    gateways = [Gateway(gateway_config(etcd, service_ranges=ranges)) for _ in range(2)]
    for gw in gateways:
        await gw.start()
    try:
        async def create(gw: Gateway, name: str, kind: str) -> dict[str, Any]:
            async with aiohttp.ClientSession(base_url=gw.url) as session:
                code, body = await post(session, svc(name, type=kind))
                assert code == 201, body
                return body

        bodies = await asyncio.gather(*(create(gateways[i % 2], f"s{i}", "NodePort" if i % 2 else "ClusterIP")
                                        for i in range(50)))
        ips = [b["spec"]["clusterIP"] for b in bodies]
        node_ports = [b["spec"]["ports"][0]["nodePort"] for b in bodies if b["spec"]["type"] == "NodePort"]
        assert len(set(ips)) == 50 and len(set(node_ports)) == 25
        assert all(ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("10.200.0.0/26") for ip in ips)
        claims = await claimed(gateways[0], IP_PREFIX)
        assert {ip: f"default/s{i}" for i, ip in enumerate(ips)}.items() <= claims.items()
        assert set(await claimed(gateways[0], NODE_PORT_PREFIX)) == {str(p) for p in node_ports}
    finally:
        for gw in gateways:
            await stop_or_explain(gw)
