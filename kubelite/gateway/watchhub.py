"""The gateway's watch cache: one etcd watch per resource, fanned out to every HTTP watcher of it.

Like kube-apiserver's watch cache (k8s.io/apiserver/pkg/storage/cacher), each
resource's hub starts with the gateway, at etcd's revision of that moment, and
keeps the last ``buffer_size`` events. A watcher is served from that window
only: a start older than the window's beginning gets ``410 Expired`` ("too old
resource version: RV (OLDEST)"), as kube-apiserver answers, and the client
re-lists. So no watch replays etcd's history, however long it is, and a
gateway restart (a new window) makes clients re-list just as an apiserver
restart does.

Events are kept as etcd sent them and decoded only when a watcher needs them,
at most once per event (and serialised at most once per event type), so a hub
nobody watches costs little. A watcher that falls ``queue_limit`` events behind
is cut off where the next revision begins (its stream ends; clients re-watch from their
last resourceVersion, so it must end on a whole revision).
If the hub's own etcd watch expires (etcd compacted past it during an outage),
its watchers get 410 and the hub opens a new window at etcd's current revision.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aetcd

from kubelite.api import errors
from kubelite.api.resources import Resource
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import prefix_end, range_
from kubelite.gateway.respond import dumps
from kubelite.etcd.encryption import Encryption
from kubelite.storage.store import client_encryption, decode_document
from kubelite.util.supervise import cancel_and_wait, spawn
from kubelite.storage.watch import WatchExpired, watch_raw

log = logging.getLogger(__name__)


def _hub_key(res: Resource) -> str:
    """Built-in kinds: their plural. Custom resources: key prefix and served version (plurals repeat
    across groups, and each version of a CRD reads the same keys as its own apiVersion)."""
    return f"{res.prefix()}@{res.api_version}" if res.custom or res.conversion else res.plural


def too_old(resource_version: int, oldest: int) -> errors.ApiError:
    """kube's watch-cache answer for a start before its window (``oldest``: the newest revision it cannot serve after)."""
    return errors.gone(f"too old resource version: {resource_version} ({oldest})")


class HubEvent:
    """One etcd event of a resource, shared by all watchers; decoded and serialised lazily, once."""

    __slots__ = ("res", "raw", "encryption", "type", "revision", "namespace", "_doc", "_old", "_lines")

    def __init__(self, res: Resource, raw: aetcd.rtypes.Event, encryption: Encryption | None = None) -> None:
        self.res = res
        self.raw = raw
        self.encryption = encryption
        kv = raw.kv
        self.revision: int = kv.mod_revision
        if raw.kind == "DELETE":
            self.type = "DELETED"
        else:
            self.type = "ADDED" if kv.version == 1 else "MODIFIED"
        # the namespace is in the key (/registry/<plural>/<ns>/<name>): filtering needs no decode
        self.namespace: str | None = (
            kv.key.decode()[len(res.prefix()):].partition("/")[0] if res.namespaced else None
        )
        self._doc: dict[str, Any] | None = None
        self._old: dict[str, Any] | None = None
        self._lines: dict[str, bytes] = {}

    @property
    def doc(self) -> dict[str, Any]:
        """The object as watchers get it; for DELETED its last state, at the deletion's resourceVersion."""
        if self._doc is None:
            prev = self.raw.prev_kv
            if self.type != "DELETED":
                self._doc = decode_document(self.res, self.raw.kv.value, self.revision, self.encryption,
                                            key=self.raw.kv.key)
            elif prev is not None and prev.version:
                self._doc = decode_document(self.res, prev.value, self.revision, self.encryption, key=self.raw.kv.key)
            else:  # etcd no longer had the previous value: only the name is known
                self._doc = self._placeholder()
        return self._doc

    @property
    def old(self) -> dict[str, Any] | None:
        prev = self.raw.prev_kv
        if self._old is None and prev is not None and prev.version:
            self._old = decode_document(self.res, prev.value, prev.mod_revision, self.encryption,
                                         key=self.raw.kv.key)
        return self._old

    def line(self, event_type: str) -> bytes:
        cached = self._lines.get(event_type)
        if cached is None:
            cached = self._lines[event_type] = dumps({"type": event_type, "object": self.doc}) + b"\n"
        return cached

    def _placeholder(self) -> dict[str, Any]:
        rest = self.raw.kv.key.decode()[len(self.res.prefix()):]
        name = rest.partition("/")[2] if self.res.namespaced else rest
        metadata: dict[str, Any] = {"name": name, "resourceVersion": str(self.revision)}
        if self.namespace:
            metadata["namespace"] = self.namespace
        return {"apiVersion": self.res.api_version, "kind": self.res.kind, "metadata": metadata}


# What a subscription's queue carries: events, an error to report (410, ...), or None: end the stream.
QueueItem = HubEvent | errors.ApiError | None


@dataclass(eq=False)
class Subscription:
    namespace: str | None
    from_revision: int
    queue: asyncio.Queue[QueueItem] = field(default_factory=asyncio.Queue)
    last_revision: int = 0  # of the last event queued for it


class ResourceHub:
    """The window of one resource: ``start()`` opens it at etcd's current revision; ``stop()``."""

    def __init__(self, client: EtcdClient, res: Resource, *, buffer_size: int, queue_limit: int,
                 restart_delay: float = 1.0) -> None:
        self.res = res
        self.buffer: deque[HubEvent] = deque()
        self.buffer_size = buffer_size
        self.queue_limit = queue_limit
        # Watchers from a resourceVersion below this get 410: events after it may be missing.
        self.oldest = 0
        self.next_revision = 1
        self.subscribers: set[Subscription] = set()
        self._client = client
        self._restart_delay = restart_delay
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._open_window()
        self.task = spawn(f"watch hub {self.res.plural}", self._run, restart_delay=self._restart_delay)

    async def _open_window(self) -> None:
        prefix = self.res.prefix()
        response = await range_(self._client, prefix, range_end=prefix_end(prefix), count_only=True,
                                what=f"watch hub {self.res.plural}")
        head = int(response.header.revision)
        self.buffer.clear()
        self.oldest = head
        self.next_revision = head + 1

    def try_subscribe(self, namespace: str | None, from_revision: int) -> Subscription:
        """A subscription for events with revision >= ``from_revision``; one that starts before the
        window holds only a 410 error. Synchronous, so replay and registration see the same buffer."""
        sub = Subscription(namespace, from_revision)
        if from_revision - 1 < self.oldest:
            sub.queue.put_nowait(too_old(from_revision - 1, self.oldest))
            return sub
        for event in self.buffer:
            if self._wants(sub, event):
                sub.last_revision = event.revision
                sub.queue.put_nowait(event)
        self.subscribers.add(sub)
        return sub

    @staticmethod
    def _wants(sub: Subscription, event: HubEvent) -> bool:
        return event.revision >= sub.from_revision and (sub.namespace is None or event.namespace == sub.namespace)

    async def _run(self) -> None:
        """Supervised (a crash restarts it from ``next_revision``); an expired watch opens a new window."""
        while True:
            try:
                async for raw in watch_raw(self._client, self.res.prefix(), from_revision=self.next_revision):
                    self._publish(HubEvent(self.res, raw, client_encryption(self._client)))
            except WatchExpired as exc:
                log.warning("watch hub %s: etcd compacted past revision %d; its watchers must re-list",
                            self.res.plural, self.next_revision)
                self._end_all(too_old(self.next_revision - 1, exc.compacted))
                await self._open_window()

    def _publish(self, event: HubEvent) -> None:
        self.next_revision = event.revision + 1
        self.buffer.append(event)
        if len(self.buffer) > self.buffer_size:
            self.oldest = self.buffer.popleft().revision
        for sub in list(self.subscribers):
            if not self._wants(sub, event):
                continue
            # Cut a slow watcher off only where a revision begins: one etcd txn (group commit writes
            # many objects in one) is one revision, and the client resumes from the last
            # resourceVersion it saw, so a stream ended inside a revision would lose the rest of it.
            if sub.queue.qsize() >= self.queue_limit and event.revision != sub.last_revision:
                log.warning("watcher of %s fell %d events behind; closing its stream", self.res.plural,
                            self.queue_limit)
                self.subscribers.discard(sub)
                sub.queue.put_nowait(None)
            else:
                sub.last_revision = event.revision
                sub.queue.put_nowait(event)

    def _end_all(self, item: QueueItem) -> None:
        for sub in list(self.subscribers):
            sub.queue.put_nowait(item)
        self.subscribers.clear()

    async def stop(self) -> None:
        if self.task is not None:
            await cancel_and_wait(self.task)
            self.task = None
        self._end_all(None)


class WatchHubs:
    """The hubs of one gateway: ``start(resources)`` opens them all (as kube-apiserver starts a cacher per
    resource); a resource not started is opened on first use. They live until ``stop()``."""

    def __init__(self, client: EtcdClient, *, buffer_size: int = 2000, queue_limit: int = 10_000) -> None:
        self._client = client
        self._hubs: dict[str, ResourceHub] = {}
        self._lock = asyncio.Lock()
        self.buffer_size = buffer_size
        self.queue_limit = queue_limit

    async def start(self, resources: Iterable[Resource]) -> None:
        for res in resources:
            await self.hub(res)

    async def hub(self, res: Resource) -> ResourceHub:
        """The hub of ``res``, opened now if it was not (cheap when it was: call it before a list
        whose resourceVersion a client may watch from)."""
        key = _hub_key(res)
        hub = self._hubs.get(key)
        if hub is None:
            async with self._lock:
                hub = self._hubs.get(key)
                if hub is None:
                    hub = ResourceHub(self._client, res, buffer_size=self.buffer_size, queue_limit=self.queue_limit)
                    await hub.start()
                    self._hubs[key] = hub
        return hub

    async def subscribe(self, res: Resource, namespace: str | None, from_revision: int) -> Subscription:
        """Events from ``from_revision`` on; a start before the hub's window gets a queued 410 error."""
        return (await self.hub(res)).try_subscribe(namespace, from_revision)

    def unsubscribe(self, res: Resource, sub: Subscription) -> None:
        hub = self._hubs.get(_hub_key(res))
        if hub is not None:
            hub.subscribers.discard(sub)

    async def stop(self) -> None:
        hubs, self._hubs = list(self._hubs.values()), {}
        for hub in hubs:
            await hub.stop()
