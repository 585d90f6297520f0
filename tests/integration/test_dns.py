"""The cluster DNS server on a real etcd, asked over UDP and TCP with dnslib as the client:
service A records, headless endpoints, SRV for named ports, pod names, ExternalName, NXDOMAIN,
forwarding, and the kube-dns Service it registers."""

from __future__ import annotations

import asyncio
from typing import Any

import dnslib

from kubelite.api.resources import ENDPOINTSLICES, SERVICES
from kubelite.dns.server import ClusterDns
from kubelite.storage.store import Store
from tests.helpers import wait_for


async def ask(dns: ClusterDns, name: str, qtype: str = "A", *, tcp: bool = False) -> dnslib.DNSRecord:
    query = dnslib.DNSRecord.question(name, qtype)
    raw = await asyncio.to_thread(query.send, "127.0.0.1", dns.port, tcp=tcp, timeout=5)
    return dnslib.DNSRecord.parse(raw)


def values(reply: dnslib.DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


async def create(store: Store, res: Any, doc: dict[str, Any]) -> None:
    await store.create(res, res.model.model_validate(doc))


async def test_cluster_names_forwarding_and_registration(store: Store) -> None:
    await create(store, SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                                   "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}})
    await create(store, SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
                                   "spec": {"clusterIP": "None", "selector": {"app": "db"},
                                            "ports": [{"name": "sql", "port": 5432}]}})
    await create(store, SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "default"},
                                   "spec": {"type": "ExternalName", "externalName": "example.com"}})
    endpoints = [{"addresses": ["10.1.0.1"], "hostname": "db-0", "conditions": {"ready": True}},
                 {"addresses": ["10.1.0.2"], "conditions": {"ready": True}},
                 {"addresses": ["10.1.0.3"], "conditions": {"ready": False}}]
    await create(store, ENDPOINTSLICES, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                                         "metadata": {"name": "db-x", "namespace": "default",
                                                      "labels": {"kubernetes.io/service-name": "db"}},
                                         "endpoints": endpoints, "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"}]})
    upstream = ClusterDns(store, host="127.0.0.1", port=0, domain="upstream.test", upstream=[])
    await upstream.start()
    dns = ClusterDns(store, host="127.0.0.1", port=0, upstream=[f"127.0.0.1:{upstream.port}"], service_ip="10.96.0.10")
    await dns.start()
    try:
        assert values(await ask(dns, "web.default.svc.cluster.local")) == ["10.96.0.20"]
        assert values(await ask(dns, "web.default.svc.cluster.local", tcp=True)) == ["10.96.0.20"]
        assert values(await ask(dns, "db.default.svc.cluster.local")) == ["10.1.0.1", "10.1.0.2"]  # ready ones
        assert values(await ask(dns, "db-0.db.default.svc.cluster.local")) == ["10.1.0.1"]
        assert values(await ask(dns, "_http._tcp.web.default.svc.cluster.local", "SRV")) == [
            "0 100 80 web.default.svc.cluster.local."]
        assert values(await ask(dns, "_sql._tcp.db.default.svc.cluster.local", "SRV")) == [
            "0 100 5432 10-1-0-2.db.default.svc.cluster.local.", "0 100 5432 db-0.db.default.svc.cluster.local."]
        assert values(await ask(dns, "10-1-2-3.default.pod.cluster.local")) == ["10.1.2.3"]
        assert values(await ask(dns, "ext.default.svc.cluster.local")) == ["example.com."]
        missing = await ask(dns, "nope.default.svc.cluster.local")
        assert missing.header.rcode == dnslib.RCODE.NXDOMAIN and not missing.rr
        # not the cluster's: forwarded (the upstream here is a second server for upstream.test)
        forwarded = await ask(dns, "nope.default.svc.upstream.test")
        assert forwarded.header.rcode == dnslib.RCODE.NXDOMAIN and upstream.queries == 1
        # new services show up through the informers
        await create(store, SERVICES, {"apiVersion": "v1", "kind": "Service",
                                       "metadata": {"name": "late", "namespace": "default"},
                                       "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 80}]}})

        async def late() -> bool:
            return values(await ask(dns, "late.default.svc.cluster.local")) == ["10.96.0.30"]

        await wait_for(late, 10)
        kube_dns = (await store.get(SERVICES, "kube-dns", "kube-system")).to_dict()
        assert kube_dns["spec"]["clusterIP"] == "10.96.0.10"
        assert {p["targetPort"] for p in kube_dns["spec"]["ports"]} == {dns.port}
        dns_slice = (await store.get(ENDPOINTSLICES, "kube-dns", "kube-system")).to_dict()
        assert dns_slice["endpoints"][0]["addresses"] == ["127.0.0.1"]
    finally:
        await dns.stop()
        await upstream.stop()
