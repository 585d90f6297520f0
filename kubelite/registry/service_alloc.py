"""ClusterIP and NodePort allocation for Services: one etcd key per address, claimed in the
Service's own write transaction.

kube-apiserver keeps a bitmap per range in one key (``/registry/ranges/serviceips``) and
updates it with compare-and-swap beside the Service write. kubelite claims one key per
address instead — ``/registry/serviceips/<ip>`` and ``/registry/servicenodeports/<port>``,
value ``<namespace>/<name>`` — with ``version == 0`` compares in the same transaction that
puts the Service, and deletes them in the transaction that deletes it. So an address is
never handed out twice, by any number of gateways, and a failed write leaves none behind.

Dynamic picks are random, preferring the upper part of the range as kube does (the lower
band — 1/16 of the range for IPs, min 16 max 256; 1/32 for ports, min 16 max 128 — is left
for addresses users ask for); after a few collisions the claimed keys are listed and the
pick is made among the free ones. A requested address that is taken or outside the range
is a 422 naming the field (``storage/alloc.go``, ``ipallocator``, ``portallocator``).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import errors
from kubelite.api.errors import StatusCause, quote_value
from kubelite.api.service import NONE, needs_cluster_ip, needs_node_ports, spec_of, type_unused_causes
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import prefix_end, range_

Doc = dict[str, Any]
IP_PREFIX = "/registry/serviceips/"
NODE_PORT_PREFIX = "/registry/servicenodeports/"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORTS = (30000, 32767)
RANDOM_TRIES = 8  # collisions before the pick is made from a listing of the free addresses


@dataclass(frozen=True)
class ServiceRanges:
    """``--service-cluster-ip-range`` and ``--service-node-port-range`` (both inclusive)."""

    cidr: str = DEFAULT_SERVICE_CIDR
    node_ports: tuple[int, int] = DEFAULT_NODE_PORTS

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr, strict=False)

    def first_ip(self) -> str:
        """The address the ``kubernetes`` Service gets (the range's first usable one)."""
        return str(self.network.network_address + 1)

    def ip_usable(self, ip: ipaddress.IPv4Address) -> bool:
        net = self.network
        return ip in net and ip not in (net.network_address, net.broadcast_address)


def ranges_flag(text: str) -> str:
    """argparse type of ``--service-cluster-ip-range``: an IPv4 CIDR of at least 8 addresses."""
    import argparse  # noqa: PLC0415 - only flag parsing needs it

    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an IPv4 CIDR: {text!r} ({exc})") from None
    if net.num_addresses < 8:
        raise argparse.ArgumentTypeError(f"{text} is too small: a service range needs at least 8 addresses")
    return str(net)


def node_port_range_flag(text: str) -> tuple[int, int]:
    """argparse type of ``--service-node-port-range`` (``30000-32767``)."""
    import argparse  # noqa: PLC0415

    try:
        low, high = (int(part) for part in text.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be FIRST-LAST, not {text!r}") from None
    if not 1 <= low <= high <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: ports are 1-65535, first <= last")
    return low, high


def ip_key(ip: str) -> str:
    return f"{IP_PREFIX}{ip}"


def node_port_key(port: int) -> str:
    return f"{NODE_PORT_PREFIX}{port}"


def held_keys(doc: Doc) -> set[str]:
    """The allocation keys a stored Service holds."""
    spec = spec_of(doc)
    keys: set[str] = set()
    if needs_cluster_ip(doc):
        for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
            if ip and ip != NONE:
                keys.add(ip_key(ip))
    if needs_node_ports(doc):
        keys |= {node_port_key(p["nodePort"]) for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")}
    return keys


@dataclass
class Assignment:
    """A Service with its addresses filled in, the keys to claim, and which of them the user asked for."""

    doc: Doc
    claim: set[str] = field(default_factory=set)
    requested: dict[str, tuple[str, Any]] = field(default_factory=dict)  # key → (field path, value) for the 422


class ServiceAllocator:
    """Fills in a Service's clusterIP and nodePorts; the Store claims the keys in its transaction."""

    def __init__(self, ranges: ServiceRanges | None = None, *, rng: random.Random | None = None) -> None:
        self.ranges = ranges or ServiceRanges()
        self.rng = rng or random.Random()

    def assign(self, doc: Doc, old: Doc | None, *, avoid: set[str], free_ips: list[str] | None = None,
               free_ports: list[int] | None = None) -> Assignment:
        """``doc`` with every missing address picked (avoiding ``avoid``); 422 for a requested one out of range.

        ``old``: the stored service on an update (what it holds already is neither re-checked nor re-claimed).
        """
        import copy  # noqa: PLC0415

        doc = copy.deepcopy(doc)
        spec = doc.setdefault("spec", {})
        held = held_keys(old) if old is not None else set()
        result = Assignment(doc)
        causes: list[StatusCause] = type_unused_causes(doc)
        if needs_cluster_ip(doc):
            ip = spec.get("clusterIP")
            if ip:
                causes += self._requested_ip(ip, held, result)
            else:
                ip = self._pick_ip(avoid, free_ips)
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
                result.claim.add(ip_key(ip))
        if needs_node_ports(doc):
            taken = {p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")}
            for index, port in enumerate(spec.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                number = port.get("nodePort")
                if number:
                    causes += self._requested_port(index, number, held, result)
                    continue
                number = self._pick_port(avoid | {node_port_key(t) for t in taken if isinstance(t, int)}, free_ports)
                port["nodePort"] = number
                taken.add(number)
                result.claim.add(node_port_key(number))
        if causes:
            meta = doc.get("metadata") or {}
            raise errors.invalid("Service", str(meta.get("name") or ""), causes)
        return result

    def _requested_ip(self, ip: str, held: set[str], result: Assignment) -> list[StatusCause]:
        try:
            address = ipaddress.IPv4Address(ip)
        except ValueError:
            return []  # validation names the malformed value
        key = ip_key(ip)
        if key in held:
            return []
        if not self.ranges.ip_usable(address):
            return [StatusCause(field="spec.clusterIPs", reason="FieldValueInvalid", message=(
                f"Invalid value: {quote_value([ip])}: failed to allocate IP {ip}: the provided IP ({ip}) is not in "
                f"the valid range. The range of valid IPs is {self.ranges.cidr}"))]
        result.claim.add(key)
        result.requested[key] = ("spec.clusterIPs", [ip])
        return []

    def _requested_port(self, index: int, number: Any, held: set[str], result: Assignment) -> list[StatusCause]:
        if not isinstance(number, int):
            return []
        key = node_port_key(number)
        if key in held or key in result.claim:
            return []
        low, high = self.ranges.node_ports
        path = f"spec.ports[{index}].nodePort"
        if not low <= number <= high:
            return [StatusCause(field=path, reason="FieldValueInvalid", message=(
                f"Invalid value: {number}: provided port is not in the valid range. "
                f"The range of valid ports is {low}-{high}"))]
        result.claim.add(key)
        result.requested[key] = (path, number)
        return []

    # -- picking ------------------------------------------------------------------------

    def _pick_ip(self, avoid: set[str], free: list[str] | None) -> str:
        if free is not None:
            choices = [ip for ip in free if ip_key(ip) not in avoid]
            if not choices:
                raise errors.internal(f"failed to allocate a serviceIP: range is full ({self.ranges.cidr})")
            return self.rng.choice(choices)
        net = self.ranges.network
        size = net.num_addresses - 2
        band = min(max(16, size // 16), 256) if size >= 32 else 0
        for _ in range(64):
            offset = self.rng.randrange(band, size) + 1
            ip = str(net.network_address + offset)
            if ip_key(ip) not in avoid:
                return ip
        raise errors.internal("failed to allocate a serviceIP: no free address found by random picks")

    def _pick_port(self, avoid: set[str], free: list[int] | None) -> int:
        low, high = self.ranges.node_ports
        if free is not None:
            choices = [p for p in free if node_port_key(p) not in avoid]
            if not choices:
                raise errors.internal(f"failed to allocate a nodePort: range is full ({low}-{high})")
            return self.rng.choice(choices)
        size = high - low + 1
        band = min(max(16, size // 32), 128) if size >= 32 else 0
        for _ in range(64):
            port = low + self.rng.randrange(band, size)
            if node_port_key(port) not in avoid:
                return port
        raise errors.internal("failed to allocate a nodePort: no free port found by random picks")

    async def free(self, client: EtcdClient) -> tuple[list[str], list[int]]:
        """Every unclaimed address of both ranges (read when random picks keep colliding)."""
        claimed_ips = await _claimed(client, IP_PREFIX)
        claimed_ports = await _claimed(client, NODE_PORT_PREFIX)
        net = self.ranges.network
        ips = [str(ip) for ip in net.hosts() if str(ip) not in claimed_ips] if net.num_addresses <= 1 << 16 else []
        if net.num_addresses > 1 << 16:  # a big range: sample rather than enumerate a million addresses
            ips = [ip for ip in (self._pick_ip(set(), None) for _ in range(4096)) if ip not in claimed_ips]
        low, high = self.ranges.node_ports
        ports = [p for p in range(low, high + 1) if str(p) not in claimed_ports]
        return ips, ports

    def taken_error(self, name: str, assignment: Assignment, taken: set[str]) -> errors.ApiError | None:
        """422 when a key the user asked for is taken; None when only picked ones were (pick again)."""
        causes = []
        for key in sorted(taken):
            if key in assignment.requested:
                path, value = assignment.requested[key]
                if key.startswith(IP_PREFIX):
                    ip = key.removeprefix(IP_PREFIX)
                    message = f"failed to allocate IP {ip}: provided IP is already allocated"
                else:
                    message = "provided port is already allocated"
                causes.append(StatusCause(field=path, reason="FieldValueInvalid",
                                          message=f"Invalid value: {quote_value(value)}: {message}"))
        return errors.invalid("Service", name, causes) if causes else None


async def _claimed(client: EtcdClient, prefix: str) -> set[str]:
    response = await range_(client, prefix, range_end=prefix_end(prefix), what=f"list {prefix}")
    return {kv.key.decode().removeprefix(prefix) for kv in response.kvs}
