"""The cluster DNS server: UDP and TCP on one address, answers from the Service and EndpointSlice
informers (:mod:`kubelite.dns.records`), everything else forwarded to the host's resolvers.

Messages are parsed and built with ``dnslib`` (maintained, pure Python; no hand-written packet
code). The server registers itself as the ``kube-system/kube-dns`` Service (a fixed cluster IP,
port 53 UDP and TCP → this server's port) with selector-less Endpoints and EndpointSlice listing
its address, so pods reach it through the node proxy at the address the agents write into their
resolv.conf (``--cluster-dns``), as kube-dns is reached in Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import struct
from pathlib import Path
from typing import Any

import dnslib

from kubelite.api import errors
from kubelite.api.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.dns.records import Answer, Snapshot, answer
from kubelite.client.informer import FuncHandler, Informer
from kubelite.storage.store import Store

log = logging.getLogger(__name__)
FORWARD_TIMEOUT = 2.0  # seconds per upstream try


def host_resolvers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]


class ClusterDns:
    """start() / stop(); ``port`` once started. ``service_ip``: kube-dns's cluster IP (None: no Service)."""

    def __init__(self, store: Store, *, host: str, port: int, domain: str = "cluster.local",
                 upstream: list[str] | None = None, service_ip: str | None = None) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.domain = domain
        self.upstream = upstream if upstream is not None else host_resolvers()
        self.service_ip = service_ip
        self.services = Informer(store, SERVICES, resync_period=0)
        self.slices = Informer(store, ENDPOINTSLICES, resync_period=0)
        self.snapshot = Snapshot(services={}, endpoints={}, ports={})
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self.queries = 0

    async def start(self) -> None:
        rebuild = FuncHandler(add=lambda _o: self._rebuild(), update=lambda _o, _n: self._rebuild(),
                              delete=lambda _o: self._rebuild())
        for informer in (self.services, self.slices):
            informer.add_handler(rebuild)
            await informer.start()
        for informer in (self.services, self.slices):
            await informer.wait_synced(60)
        self._rebuild()
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.host, self.port))
        self.port = self._udp.get_extra_info("sockname")[1]
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
        if self.service_ip:
            await self.register()
        log.info("cluster DNS on %s:%d (domain %s, upstream %s)", self.host, self.port, self.domain, self.upstream)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for informer in (self.slices, self.services):
            await informer.stop()

    def _rebuild(self) -> None:
        self.snapshot = Snapshot.build([s.to_dict() for s in self.services.list()],
                                       [s.to_dict() for s in self.slices.list()])

    # -- the kube-dns Service ----------------------------------------------------------

    async def register(self) -> None:
        """kube-system/kube-dns → this server (created or corrected; selector-less, so ours to fill)."""
        ports = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": self.port},
                 {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": self.port}]
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
                   "spec": {"clusterIP": self.service_ip, "ports": ports}}
        endpoint_ports = [{"name": p["name"], "port": self.port, "protocol": p["protocol"]} for p in ports]
        endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                     "subsets": [{"addresses": [{"ip": self.host}], "ports": endpoint_ports}]}
        slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                  "metadata": {"name": "kube-dns", "namespace": "kube-system",
                               "labels": {"kubernetes.io/service-name": "kube-dns"}},
                  "endpoints": [{"addresses": [self.host], "conditions": {"ready": True}}], "ports": endpoint_ports}
        await ensure_system_namespaces(self.store)  # whichever component starts first makes kube-system
        for res, doc in ((SERVICES, service), (ENDPOINTS, endpoints), (ENDPOINTSLICES, slice_)):
            await self._put(res, doc)

    async def _put(self, res: Any, doc: dict[str, Any]) -> None:
        try:
            current = (await self.store.get(res, doc["metadata"]["name"], "kube-system")).to_dict()
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            await self.store.create(res, res.model.model_validate(doc))
            return
        wanted = {**current, **{k: v for k, v in doc.items() if k != "metadata"}}
        if res is SERVICES:
            wanted["spec"] = {**current.get("spec", {}), "ports": doc["spec"]["ports"]}
        if wanted != current:
            await self.store.update(res, res.model.model_validate(wanted))

    # -- answering ---------------------------------------------------------------------

    async def resolve(self, data: bytes) -> bytes | None:
        """The reply to one DNS message (None: not even a parsable question)."""
        try:
            request = dnslib.DNSRecord.parse(data)
        except (dnslib.DNSError, struct.error, ValueError, IndexError):
            return None
        self.queries += 1
        question = request.q
        found = answer(self.snapshot, str(question.qname), dnslib.QTYPE.get(question.qtype, "OTHER"), self.domain)
        if found is None:
            forwarded = await self._forward(data)
            if forwarded is not None:
                return forwarded
            reply = request.reply()
            reply.header.rcode = dnslib.RCODE.SERVFAIL
            return bytes(reply.pack())
        return bytes(_reply(request, found).pack())

    async def _forward(self, data: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        for server in self.upstream:
            address, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
            reply: asyncio.Future[bytes] = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(functools.partial(_Once, reply),
                                                                   remote_addr=(address, int(port)))
            except OSError:
                continue
            try:
                transport.sendto(data)
                return await asyncio.wait_for(reply, FORWARD_TIMEOUT)
            except TimeoutError:
                continue
            finally:
                transport.close()
        return None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = await self.resolve(await reader.readexactly(size))
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def _reply(request: dnslib.DNSRecord, found: Answer) -> dnslib.DNSRecord:
    reply = request.reply()
    reply.header.aa = 1
    if found.nxdomain:
        reply.header.rcode = dnslib.RCODE.NXDOMAIN
    for record in found.records:
        if record.rtype == "A":
            rdata: Any = dnslib.A(record.value)
        elif record.rtype == "CNAME":
            rdata = dnslib.CNAME(record.value)
        else:
            priority, weight, port, target = record.value.split()
            rdata = dnslib.SRV(priority=int(priority), weight=int(weight), port=int(port), target=target)
        reply.add_answer(dnslib.RR(record.name, getattr(dnslib.QTYPE, record.rtype), rdata=rdata, ttl=record.ttl))
    return reply


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: ClusterDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._answer(data, addr))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server.resolve(data)
        if reply is not None and self.transport is not None:
            with contextlib.suppress(OSError):
                self.transport.sendto(reply, addr)


class _Once(asyncio.DatagramProtocol):
    def __init__(self, future: asyncio.Future[bytes]) -> None:
        self.future = future

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.future.done():
            self.future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
