"""The ``default/kubernetes`` Service: the API's own address, as every cluster has it.

kube-apiserver's "lease" endpoint reconciler (``pkg/controlplane/reconcilers/lease.go``):
each gateway holds ``/registry/masterleases/<ip>:<port>`` on an etcd lease (15 s TTL) and,
every 10 s and at start, makes the selector-less Service (first address of the service
range, port 443 ``https`` → the gateways' port), its Endpoints and its EndpointSlice list
exactly the gateways whose leases live. Writes happen only when something differs, so a
steady cluster's etcd revision does not move. A stopping gateway revokes its lease and
takes itself out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aetcd

from kubelite.api import errors
from kubelite.api.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES, Resource
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import cmp_version, op_get, op_put, prefix_end, txn
from kubelite.client.lease import LeaseSession
from kubelite.registry.service_alloc import ServiceRanges
from kubelite.storage.store import Store, client_encryption, decode
from kubelite.util.supervise import BackgroundTask

log = logging.getLogger(__name__)

MASTER_LEASES = "/registry/masterleases/"
LEASE_TTL = 15  # seconds (kube: --endpoint-reconciler-type=lease, masterLeaseTTL 15 s)
INTERVAL = 10.0  # seconds between reconciles (kube's EndpointInterval)
NAME, NAMESPACE = "kubernetes", "default"


def service_doc(ranges: ServiceRanges) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ranges.first_ip(), "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]}}


def endpoint_docs(addresses: list[tuple[str, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Endpoints, EndpointSlice) for the live gateways' ``(ip, port)`` pairs."""
    by_port: dict[int, list[str]] = {}
    for ip, port in sorted(addresses):
        by_port.setdefault(port, []).append(ip)
    subsets = [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
               for port, ips in sorted(by_port.items())]
    endpoints: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
                                 "metadata": {"name": NAME, "namespace": NAMESPACE,
                                              "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}}
    if subsets:
        endpoints["subsets"] = subsets
    first_port = min(by_port) if by_port else 443
    slice_: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": NAME}},
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in by_port.get(first_port, [])],
        "ports": [{"name": "https", "port": first_port, "protocol": "TCP"}],
    }
    return endpoints, slice_


class KubernetesService:
    """start() / stop(); ``address``/``port``: where this gateway is reached."""

    def __init__(self, client: EtcdClient, store: Store, *, address: str, port: int, ranges: ServiceRanges,
                 interval: float = INTERVAL) -> None:
        self.client = client
        self.store = store
        self.address = address
        self.port = port
        self.ranges = ranges
        self.interval = interval
        self._lease: LeaseSession | None = None
        self._task = BackgroundTask()

    @property
    def lease_key(self) -> str:
        return f"{MASTER_LEASES}{self.address}:{self.port}"

    async def start(self) -> None:
        await self.reconcile()
        self._task.start("kubernetes-service", self._run)

    async def stop(self) -> None:
        await self._task.stop()
        if self._lease is not None:
            await self._lease.stop(revoke=True)
            self._lease = None
            with contextlib.suppress(errors.ApiError, aetcd.ClientError, OSError):
                await asyncio.wait_for(self._write_endpoints(), 5.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.reconcile()

    async def reconcile(self) -> None:
        """Hold this gateway's lease, ensure the Service, and list the live gateways as its endpoints.

        A steady round is one read-only etcd txn (served without a raft round, as every read):
        the leases and the three objects are read together, and writes follow only a difference."""
        if self._lease is None or self._lease.lost.is_set():
            self._lease = LeaseSession(self.client, LEASE_TTL)
            await self._lease.start()
        seen = await self._read()
        if seen.lease_of(self.lease_key) != self._lease.lease_id:
            await txn(self.client, [cmp_version(self.lease_key, "==", 0)],
                      [op_put(self.lease_key, self.address.encode(), self._lease.lease_id)], [],
                      what=f"hold {self.lease_key}")
            seen = await self._read()
        await self._ensure(SERVICES, service_doc(self.ranges), seen.objects[SERVICES.kind])
        await self._write_endpoints(seen)

    async def _read(self) -> _Seen:
        objects = (SERVICES, ENDPOINTS, ENDPOINTSLICES)
        response = await txn(self.client, [], [op_get(MASTER_LEASES, prefix_end(MASTER_LEASES)),
                                               *(op_get(res.key(NAME, NAMESPACE)) for res in objects)], [],
                             what="read the kubernetes Service")
        ranges = [one.response_range.kvs for one in response.responses]
        return _Seen(list(ranges[0]), {res.kind: (kvs[0] if kvs else None) for res, kvs in zip(objects, ranges[1:])})

    async def _write_endpoints(self, seen: _Seen | None = None) -> None:
        if seen is None:
            seen = await self._read()
        addresses = []
        for kv in seen.leases:
            ip, _, port = kv.key.decode().removeprefix(MASTER_LEASES).rpartition(":")
            if port.isdigit():
                addresses.append((ip, int(port)))
        endpoints, slice_ = endpoint_docs(addresses)
        await self._ensure(ENDPOINTS, endpoints, seen.objects[ENDPOINTS.kind], replace=True)
        await self._ensure(ENDPOINTSLICES, slice_, seen.objects[ENDPOINTSLICES.kind], replace=True)

    async def _ensure(self, res: Resource, doc: dict[str, Any], kv: Any, *, replace: bool = False) -> None:
        """Create ``doc`` when ``kv`` (the stored value read, or None) is absent; with ``replace``, make
        the stored one's content equal it (no write when it is)."""
        if kv is None:
            with contextlib.suppress(errors.ApiError):  # AlreadyExists: another gateway was first
                await self.store.create(res, res.model.model_validate(doc))
            return
        if not replace:
            return
        stored = decode(res, kv.value, kv.mod_revision, client_encryption(self.client), key=kv.key).to_dict()
        wanted = {**stored, **{k: v for k, v in doc.items() if k != "metadata"}}
        if "subsets" not in doc:
            wanted.pop("subsets", None)
        if wanted == stored:
            return
        with contextlib.suppress(errors.ApiError):  # a conflict: the next round sees the newer one
            await self.store.update(res, res.model.model_validate(wanted))


@dataclass(frozen=True)
class _Seen:
    """One round's read: the master lease keys (etcd KVs) and the stored Service, Endpoints and
    EndpointSlice by kind (their KVs, None when absent)."""

    leases: list[Any]
    objects: dict[str, Any]

    def lease_of(self, key: str) -> int:
        """The etcd lease id ``key`` is held on (0: not held)."""
        return next((kv.lease for kv in self.leases if kv.key == key.encode()), 0)
