"""The node proxy's rules, pure: (Services, EndpointSlices) → an ``iptables-restore`` document.

Modelled on kube-proxy's iptables mode (``pkg/proxy/iptables/proxier.go``), in chains of our own
named ``<prefix>-...`` (the prefix is per cluster uid and node, :func:`chain_prefix`), so two
clusters, several agents of one host and other programs' rules never touch each other:

- ``<p>-SERVICES`` (jumped to from nat PREROUTING and OUTPUT): one rule per service port with
  endpoints, ``-d clusterIP -p proto --dport port → <p>-SVC-<hash>``; last, traffic to a local
  address goes on to ``<p>-NODEPORTS``: ``--dport nodePort → <p>-EXT-<hash>`` (marked for
  masquerade, then the SVC chain);
- ``<p>-SVC-<hash>``: ClientIP affinity first (``-m recent --rcheck --seconds T --reap`` per
  endpoint), then a random spread, ``-m statistic --probability 1/(n-i)`` per endpoint;
- ``<p>-SEP-<hash>``: hairpin traffic (the endpoint reaching itself) is marked for masquerade;
  affinity is recorded (``-m recent --set``); ``DNAT --to-destination ip:port``;
- ``<p>-POSTROUTING`` (from nat POSTROUTING): masquerade what carries the mark bit ``0x2000``.

- filter ``<p>-REJECT`` (from filter INPUT, FORWARD and OUTPUT, new connections only): a service
  port without endpoints is rejected (``icmp-port-unreachable``), so clients fail at once instead
  of waiting for a timeout, as kube-proxy's filter ``KUBE-SERVICES`` does.

Endpoints: the slices' ``ready`` ones; when a service has none, its ``serving`` and
``terminating`` ones (kube-proxy's terminating-endpoint fallback).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]
MASQ_MARK = "0x2000"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"


def chain_prefix(cluster_uid: str, node: str) -> str:
    """``KL`` + 6 characters from the cluster uid and node name (chains must be ≤ 28 characters)."""
    digest = hashlib.sha256(f"{cluster_uid}/{node}".encode()).digest()
    return "KL" + base64.b32encode(digest).decode()[:6]


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:12]


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with the endpoints traffic to it goes to."""

    namespace: str
    name: str
    port_name: str
    cluster_ip: str
    port: int
    protocol: str
    node_port: int | None
    affinity_seconds: int | None  # ClientIP affinity timeout, None without affinity
    endpoints: tuple[tuple[str, int], ...]  # (ip, port), sorted

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port_name}/{self.protocol}"


def _endpoints_for(port: Doc, slices: list[Doc]) -> tuple[tuple[str, int], ...]:
    name, protocol = port.get("name") or "", port.get("protocol") or "TCP"
    ready: set[tuple[str, int]] = set()
    fallback: set[tuple[str, int]] = set()
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        numbers = [p.get("port") for p in slice_.get("ports") or []
                   if (p.get("name") or "") == name and (p.get("protocol") or "TCP") == protocol and p.get("port")]
        for number in numbers:
            for endpoint in slice_.get("endpoints") or []:
                conditions = endpoint.get("conditions") or {}
                addresses = endpoint.get("addresses") or []
                if not addresses:
                    continue
                if conditions.get("ready", True):
                    ready.add((addresses[0], int(number)))
                elif conditions.get("serving") and conditions.get("terminating"):
                    fallback.add((addresses[0], int(number)))
    return tuple(sorted(ready or fallback))


def service_ports(services: list[Doc], slices: list[Doc]) -> list[ServicePort]:
    """The service ports that get rules: those of services with a cluster IP (or node ports)."""
    by_service: dict[tuple[str, str], list[Doc]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(LABEL_SERVICE_NAME)
        if owner:
            by_service.setdefault((meta.get("namespace", ""), owner), []).append(slice_)
    result = []
    for service in services:
        meta, spec = service.get("metadata") or {}, service.get("spec") or {}
        cluster_ip = spec.get("clusterIP")
        if not cluster_ip or cluster_ip == "None" or spec.get("type") == "ExternalName":
            continue
        affinity = None
        if spec.get("sessionAffinity") == "ClientIP":
            affinity = int(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
                           or 10800)
        mine = by_service.get((meta.get("namespace", ""), meta.get("name", "")), [])
        for port in spec.get("ports") or []:
            result.append(ServicePort(
                namespace=meta.get("namespace", ""), name=meta.get("name", ""), port_name=port.get("name") or "",
                cluster_ip=cluster_ip, port=int(port.get("port") or 0), protocol=port.get("protocol") or "TCP",
                node_port=port.get("nodePort") if spec.get("type") in ("NodePort", "LoadBalancer") else None,
                affinity_seconds=affinity, endpoints=_endpoints_for(port, mine)))
    return sorted(result, key=lambda p: p.id)


@dataclass(frozen=True)
class Chains:
    prefix: str

    @property
    def services(self) -> str:
        return f"{self.prefix}-SERVICES"

    @property
    def node_ports(self) -> str:
        return f"{self.prefix}-NODEPORTS"

    @property
    def postrouting(self) -> str:
        return f"{self.prefix}-POSTROUTING"

    @property
    def mark_masq(self) -> str:
        return f"{self.prefix}-MARK-MASQ"

    @property
    def reject(self) -> str:  # the filter table's chain
        return f"{self.prefix}-REJECT"

    def base(self) -> list[str]:
        return [self.services, self.node_ports, self.postrouting, self.mark_masq]

    def svc(self, port: ServicePort) -> str:
        return f"{self.prefix}-SVC-{_hash(port.id)}"

    def ext(self, port: ServicePort) -> str:
        return f"{self.prefix}-EXT-{_hash(port.id)}"

    def sep(self, port: ServicePort, endpoint: tuple[str, int]) -> str:
        return f"{self.prefix}-SEP-{_hash(f'{port.id}/{endpoint[0]}:{endpoint[1]}')}"


def render(prefix: str, ports: list[ServicePort], existing: set[str]) -> str:
    """The nat table's document for ``iptables-restore --noflush``: our chains declared (which
    empties them) and refilled; ``existing`` chains of ours that are no longer wanted are removed."""
    chains = Chains(prefix)
    declared = list(chains.base())
    rules = [f"-A {chains.mark_masq} -j MARK --set-xmark {MASQ_MARK}/{MASQ_MARK}",
             f"-A {chains.postrouting} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
             f"-A {chains.postrouting} -j MARK --xor-mark {MASQ_MARK}",
             f"-A {chains.postrouting} -m comment --comment \"kubelite service traffic requiring SNAT\" -j MASQUERADE"]
    for port in ports:
        if not port.endpoints:
            continue
        proto = port.protocol.lower()
        svc = chains.svc(port)
        declared.append(svc)
        comment = f'-m comment --comment "{port.id} cluster IP"'
        rules.append(f"-A {chains.services} -d {port.cluster_ip}/32 -p {proto} -m {proto} --dport {port.port} "
                     f"{comment} -j {svc}")
        if port.node_port:
            ext = chains.ext(port)
            declared.append(ext)
            rules.append(f"-A {chains.node_ports} -p {proto} -m {proto} --dport {port.node_port} "
                         f'-m comment --comment "{port.id} node port" -j {ext}')
            rules += [f"-A {ext} -j {chains.mark_masq}", f"-A {ext} -j {svc}"]
        seps = [(endpoint, chains.sep(port, endpoint)) for endpoint in port.endpoints]
        if port.affinity_seconds:
            rules += [f"-A {svc} -m recent --name {sep} --rcheck --seconds {port.affinity_seconds} --reap -j {sep}"
                      for _, sep in seps]
        for index, (_, sep) in enumerate(seps):
            remaining = len(seps) - index
            spread = f"-m statistic --mode random --probability {1 / remaining:.10f} " if remaining > 1 else ""
            rules.append(f"-A {svc} {spread}-j {sep}")
        for (ip, number), sep in seps:
            declared.append(sep)
            rules.append(f"-A {sep} -s {ip}/32 -j {chains.mark_masq}")
            if port.affinity_seconds:
                rules.append(f"-A {sep} -m recent --name {sep} --set")
            rules.append(f"-A {sep} -p {proto} -m {proto} -j DNAT --to-destination {ip}:{number}")
    rules.append(f"-A {chains.services} -m addrtype --dst-type LOCAL -j {chains.node_ports}")
    stale = sorted(c for c in existing if c.startswith(f"{prefix}-") and c not in declared)
    rejects = [f"-A {chains.reject} -d {p.cluster_ip}/32 -p {p.protocol.lower()} -m {p.protocol.lower()} "
               f'--dport {p.port} -m comment --comment "{p.id} has no endpoints" -j REJECT '
               "--reject-with icmp-port-unreachable" for p in ports if not p.endpoints]
    lines = ["*nat", *(f":{c} - [0:0]" for c in [*declared, *stale]), *rules, *(f"-X {c}" for c in stale), "COMMIT",
             "*filter", f":{chains.reject} - [0:0]", *rejects, "COMMIT", ""]
    return "\n".join(lines)


def cleanup(prefix: str, existing: dict[str, set[str]]) -> str:
    """The document that empties and removes every chain of ours (after the jumps to them are gone);
    ``existing``: table → its chains now."""
    lines = []
    for table in ("nat", "filter"):
        ours = sorted(c for c in existing.get(table, set()) if c.startswith(f"{prefix}-"))
        if ours:
            lines += [f"*{table}", *(f":{c} - [0:0]" for c in ours), *(f"-X {c}" for c in ours), "COMMIT"]
    return "\n".join([*lines, ""])


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain that sends traffic to one of ours."""

    table: str
    builtin: str
    target: str
    match: tuple[str, ...] = ()


def jumps(prefix: str) -> list[Jump]:
    """The jumps the proxy hooks in: nat for the DNAT/masquerade, filter for the rejects."""
    chains = Chains(prefix)
    new = ("-m", "conntrack", "--ctstate", "NEW")
    return [Jump("nat", "PREROUTING", chains.services), Jump("nat", "OUTPUT", chains.services),
            Jump("nat", "POSTROUTING", chains.postrouting), Jump("filter", "INPUT", chains.reject, new),
            Jump("filter", "FORWARD", chains.reject, new), Jump("filter", "OUTPUT", chains.reject, new)]


def chains_in(save_output: str) -> set[str]:
    """Chain names declared in ``iptables-save -t TABLE`` output (or in a restore document)."""
    return {line[1:].split()[0] for line in save_output.splitlines() if line.startswith(":")}
