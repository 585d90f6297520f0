"""Which records a cluster name has, pure: (Services, EndpointSlices) snapshot + a question → answers.

The Kubernetes DNS specification (``cluster-dns`` spec, schema 1.1.0), as CoreDNS answers it:

- ``<svc>.<ns>.svc.<domain>`` A: the ClusterIP; for a headless service, every ready endpoint's
  address; ExternalName: a CNAME to ``externalName``;
- ``<hostname>.<svc>.<ns>.svc.<domain>`` A: a headless service's endpoint that has a hostname
  (pods with ``hostname`` and ``subdomain: <svc>``); the dashed address works as the hostname too;
- ``_<port>._<proto>.<svc>.<ns>.svc.<domain>`` SRV for named ports: the service name (or, headless,
  one record per endpoint, its hostname under the service);
- ``<a-b-c-d>.<ns>.pod.<domain>`` A: ``a.b.c.d`` (CoreDNS's ``pods insecure``).

A name under the domain that matches nothing is NXDOMAIN; ``None`` means "not ours, forward it".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]
LABEL_SERVICE_NAME = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Record:
    name: str  # absolute, with the trailing dot
    rtype: str  # "A", "SRV", "CNAME"
    value: str  # an address, a target name, or "priority weight port target" for SRV
    ttl: int = 5


@dataclass(frozen=True)
class Answer:
    records: tuple[Record, ...] = ()
    nxdomain: bool = False


@dataclass
class Snapshot:
    """Services and their endpoints, indexed for lookups; rebuilt from the informers on change."""

    services: dict[tuple[str, str], Doc] = field(default_factory=dict)  # (ns, name) → Service
    endpoints: dict[tuple[str, str], list[Doc]] = field(default_factory=dict)  # (ns, svc) → ready endpoints
    ports: dict[tuple[str, str], list[Doc]] = field(default_factory=dict)  # (ns, svc) → slice ports

    @classmethod
    def build(cls, services: list[Doc], slices: list[Doc]) -> Snapshot:
        snap = cls(services={}, endpoints={}, ports={})
        for service in services:
            meta = service.get("metadata") or {}
            snap.services[(meta.get("namespace", ""), meta.get("name", ""))] = service
        for slice_ in slices:
            meta = slice_.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(LABEL_SERVICE_NAME)
            if not owner or slice_.get("addressType", "IPv4") != "IPv4":
                continue
            key = (meta.get("namespace", ""), owner)
            snap.endpoints.setdefault(key, []).extend(
                e for e in slice_.get("endpoints") or [] if (e.get("conditions") or {}).get("ready", True))
            snap.ports.setdefault(key, []).extend(slice_.get("ports") or [])
        return snap


def _dashed(ip: str) -> str:
    return ip.replace(".", "-")


def answer(snap: Snapshot, qname: str, qtype: str, domain: str) -> Answer | None:
    """Records for ``qname`` (absolute or not) of type ``qtype`` ("A", "SRV", "ANY"...); None: forward."""
    name = qname.rstrip(".").lower()
    suffix = f".{domain.strip('.').lower()}"
    if not name.endswith(suffix):
        return None
    labels = name[: -len(suffix)].split(".")
    fqdn = f"{name}."
    if len(labels) == 3 and labels[2] == "pod":
        return _pod(labels[0], fqdn, qtype)
    if labels[-1] != "svc" or len(labels) < 3:
        return Answer(nxdomain=True)
    labels = labels[:-1]  # [..., svc, ns]
    namespace, service_name = labels[-1], labels[-2]
    service = snap.services.get((namespace, service_name))
    if service is None:
        return Answer(nxdomain=True)
    base = f"{service_name}.{namespace}.svc{suffix}."
    rest = labels[:-2]
    if not rest:
        return _service(snap, service, base, fqdn, qtype, (namespace, service_name))
    if len(rest) == 2 and rest[0].startswith("_") and rest[1].startswith("_"):
        return _srv(snap, service, base, fqdn, rest[0][1:], rest[1][1:].upper(), qtype, (namespace, service_name))
    if len(rest) == 1:
        return _endpoint(snap, (namespace, service_name), rest[0], fqdn, qtype)
    return Answer(nxdomain=True)


def _pod(label: str, fqdn: str, qtype: str) -> Answer:
    try:
        ip = str(ipaddress.IPv4Address(label.replace("-", ".")))
    except ValueError:
        return Answer(nxdomain=True)
    return Answer((Record(fqdn, "A", ip),) if qtype in ("A", "ANY") else ())


def _service(snap: Snapshot, service: Doc, base: str, fqdn: str, qtype: str, key: tuple[str, str]) -> Answer:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").rstrip(".") + "."
        return Answer((Record(fqdn, "CNAME", target),))
    if qtype not in ("A", "ANY"):
        return Answer()
    ip = spec.get("clusterIP")
    if ip and ip != "None":
        return Answer((Record(fqdn, "A", ip),))
    addresses = sorted({(e.get("addresses") or [""])[0] for e in snap.endpoints.get(key, []) if e.get("addresses")})
    return Answer(tuple(Record(fqdn, "A", a) for a in addresses))


def _endpoint_name(endpoint: Doc) -> str:
    return str(endpoint.get("hostname") or _dashed((endpoint.get("addresses") or [""])[0]))


def _endpoint(snap: Snapshot, key: tuple[str, str], label: str, fqdn: str, qtype: str) -> Answer:
    found = [e for e in snap.endpoints.get(key, []) if _endpoint_name(e) == label and e.get("addresses")]
    if not found:
        return Answer(nxdomain=True)
    if qtype not in ("A", "ANY"):
        return Answer()
    return Answer(tuple(Record(fqdn, "A", e["addresses"][0]) for e in found))


def _srv(snap: Snapshot, service: Doc, base: str, fqdn: str, port_name: str, proto: str, qtype: str,
         key: tuple[str, str]) -> Answer:
    ports = [p for p in (service.get("spec") or {}).get("ports") or []
             if p.get("name") == port_name and (p.get("protocol") or "TCP") == proto]
    if not ports:
        return Answer(nxdomain=True)
    if qtype not in ("SRV", "ANY"):
        return Answer()
    spec = service.get("spec") or {}
    if spec.get("clusterIP") and spec.get("clusterIP") != "None":
        return Answer(tuple(Record(fqdn, "SRV", f"0 100 {p['port']} {base}") for p in ports))
    numbers = [p.get("port") for p in snap.ports.get(key, []) if p.get("name") == port_name] or [ports[0]["port"]]
    return Answer(tuple(Record(fqdn, "SRV", f"0 100 {numbers[0]} {_endpoint_name(e)}.{base}")
                        for e in snap.endpoints.get(key, []) if e.get("addresses")))
