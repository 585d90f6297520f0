"""Kubernetes-style Events: what a component decided, visible in ``kl describe``.

Events live on etcd leases so they expire after about an hour. A repeat of
the same (object, reason, message) bumps ``count`` on the existing Event
instead of creating another. Recording never blocks or fails the caller: it
queues, and a background task writes; the queue and the task are the store's
(:class:`EventWriter`), so every recorder of a process's store shares txns.

As client-go's EventCorrelator spam filter (``tools/record/events_cache.go``:
``defaultSpamBurst`` 25, ``defaultSpamQPS`` 1/300), a recorder writes at most 25
events about one object in a burst, then one per 5 minutes: a ReplicaSet creating
1,000 pods records 25 ``SuccessfulCreate``, not 1,000 (issue 12: events were most
of etcd's writes in a scale-up).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors
from kubelite.api.core import Event, EventSource, ObjectReference
from kubelite.api.meta import KubeObject, ObjectMeta
from kubelite.api.resources import EVENTS
from kubelite.storage.store import Clock, Store
from kubelite.util.clock import monotonic as clock_monotonic
from kubelite.util.clock import now_seconds
from kubelite.registry.strategy import is_namespace_terminating
from kubelite.util.supervise import cancel_and_wait, spawn

log = logging.getLogger(__name__)

EVENT_TTL_SECONDS = 3600
_LEASE_ROTATION_SECONDS = 600
_QUEUE_LIMIT = 10_000
_BATCH = 64  # Events per txn (Store.create_events): 64 compares on keys and at most 64 on namespaces fit etcd's default --max-txn-ops (128)
SPAM_BURST = 25  # client-go defaultSpamBurst: events about one object before the rate applies
SPAM_PER_SECOND = 1 / 300  # client-go defaultSpamQPS: then one per 5 minutes
_SPAM_KEYS = 4096  # client-go's LRU of spam filter entries (maxLruCacheEntries)


@dataclass(frozen=True)
class _Pending:
    recorder: EventRecorder
    involved: ObjectReference
    type: str
    reason: str
    message: str
    time: Any  # when it was recorded: the Event's first and last timestamp, however late it is written


class EventRecorder:
    """Records Events for one component (and host): the spam filter and the Event's shape are the
    recorder's; the writing is its store's :class:`EventWriter`, shared by every recorder of that store
    in the process (a hundred simulated nodes' Events share txns, not one txn per pod each)."""

    def __init__(
        self, store: Store, component: str, *, host: str | None = None, clock: Clock = now_seconds,
        monotonic: Callable[[], float] = clock_monotonic,
    ) -> None:
        self.store = store
        self.component = component
        self.host = host
        self.clock = clock
        self._monotonic = monotonic
        self.writer = EventWriter.of(store)
        self._started = False
        # spam filter: involved object → (tokens, monotonic time of the last refill); insertion-ordered
        # for the LRU bound
        self._spam: dict[tuple[str | None, ...], tuple[float, float]] = {}

    async def start(self) -> None:
        if not self._started:
            self._started = True
            self.writer.start()

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.writer.stop()

    def record(self, obj: KubeObject, type_: str, reason: str, message: str) -> None:
        """Queue an Event about ``obj`` (type Normal or Warning)."""
        involved = ObjectReference(
            kind=obj.kind, namespace=obj.metadata.namespace, name=obj.metadata.name, uid=obj.metadata.uid,
            api_version=obj.api_version, resource_version=obj.metadata.resource_version,
        )
        if not self._accept(involved):
            log.debug("event about %s %s/%s dropped by the spam filter: %s", involved.kind, involved.namespace,
                      involved.name, reason)
            return
        self.writer.put(_Pending(self, involved, type_, reason, message, self.clock()))

    def _accept(self, involved: ObjectReference) -> bool:
        """client-go's spam filter: a token bucket per (source, involved object)."""
        key = (involved.kind, involved.namespace, involved.name, involved.uid, involved.api_version)
        now = self._monotonic()
        tokens, last = self._spam.pop(key, (float(SPAM_BURST), now))
        tokens = min(float(SPAM_BURST), tokens + (now - last) * SPAM_PER_SECOND)
        if len(self._spam) >= _SPAM_KEYS:
            del self._spam[next(iter(self._spam))]  # the least recently used
        if tokens < 1:
            self._spam[key] = (tokens, now)
            return False
        self._spam[key] = (tokens - 1, now)
        return True

    async def flush(self) -> None:
        """Write everything queued so far (tests and shutdown): this store's, all recorders'."""
        await self.writer.flush()

    def event(self, pending: _Pending) -> Event:
        """The Event a pending record becomes; its name is the same for a repeat (uid, type, reason,
        message, component), so a repeat bumps ``count``."""
        involved = pending.involved
        digest = hashlib.sha1(
            f"{involved.uid}|{pending.type}|{pending.reason}|{pending.message}|{self.component}".encode()
        ).hexdigest()[:12]
        return Event(
            metadata=ObjectMeta(name=f"{involved.name}.{digest}", namespace=involved.namespace or "default"),
            involved_object=involved, reason=pending.reason, message=pending.message, type=pending.type,
            count=1, first_timestamp=pending.time, last_timestamp=pending.time,
            source=EventSource(component=self.component, host=self.host),
            reporting_component=self.component, reporting_instance=self.host or self.component,
        )


class EventWriter:
    """The queue of recorded Events and the background task that writes them, one per :class:`Store`
    (:meth:`of`): the Events queued while its previous txn was under way go together in the next
    (:meth:`Store.create_events`, up to _BATCH per txn). Recording never blocks: a full queue drops.
    Started by its first recorder's start, stopped by its last recorder's stop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ttl = EventLeases(store)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self._users = 0
        # held while a batch is written: flush() waits for the one the drain task has taken already
        self._writing = asyncio.Lock()

    @classmethod
    def of(cls, store: Store) -> EventWriter:
        """The store's writer (kept on the store: it lives and goes with it)."""
        writer: EventWriter | None = store.event_writer
        if writer is None:
            writer = store.event_writer = cls(store)
        return writer

    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._users += 1
        if self._task is None:
            self._task = spawn("events", self._drain)

    async def stop(self) -> None:
        self._users -= 1
        if self._users <= 0 and self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)

    def put(self, pending: _Pending) -> None:
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            involved = pending.involved
            log.warning("event queue full; dropping %s %s/%s: %s", pending.reason, involved.namespace,
                        involved.name, pending.message)

    async def flush(self) -> None:
        """Write everything queued before the call, the batch the drain task took already included."""
        async with self._writing:
            while not self._queue.empty():
                await self._write_batch(self._take(self._queue.get_nowait()))

    async def _drain(self) -> None:
        while True:
            first = await self._queue.get()
            async with self._writing:  # no suspension between the get and the lock while it is free
                await self._write_batch(self._take(first))

    def _take(self, first: _Pending) -> list[_Pending]:
        """``first`` and what is queued behind it, up to _BATCH: the writes of one moment."""
        batch = [first]
        while len(batch) < _BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _write_batch(self, batch: list[_Pending]) -> None:
        """The batch's new Events in one txn (:meth:`Store.create_events`); what that did not create (a
        repeat, whose count is bumped; a second of the same Event in the batch) is written alone."""
        first: dict[str, tuple[_Pending, Event]] = {}
        alone: list[tuple[_Pending, Event]] = []
        for pending in batch:
            event = pending.recorder.event(pending)
            if event.metadata.name in first:
                alone.append((pending, event))
            else:
                first[event.metadata.name or ""] = (pending, event)
        if len(first) > 1:
            try:
                lease = await self.ttl.lease() if self.store.events_need_ttl_lease else 0
                created = await self.store.create_events([event for _, event in first.values()], lease=lease)
            except errors.ApiError:
                created = [False] * len(first)  # written alone, each reporting its own error
            alone = [entry for entry, done in zip(first.values(), created, strict=True) if not done] + alone
        else:
            alone = [*first.values(), *alone]
        for pending, event in alone:
            try:
                await self._write(event)
            except errors.ApiError as exc:
                # a Terminating namespace takes no new content: expected while it is emptied
                level = logging.DEBUG if is_namespace_terminating(exc) else logging.WARNING
                log.log(level, "event %s not recorded: %s", pending.reason, exc)

    async def _write(self, event: Event) -> None:
        """Create ``event`` alone; when it exists already (a repeat), bump its count and last timestamp."""
        now = event.last_timestamp
        name, namespace = event.metadata.name or "", event.metadata.namespace or ""
        try:
            lease = await self.ttl.lease() if self.store.events_need_ttl_lease else 0
            await self.store.create(EVENTS, event, lease=lease)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise

            def bump(existing: Any) -> Any:
                existing.count = (existing.count or 1) + 1
                existing.last_timestamp = now
                return existing

            await self.store.guaranteed_update(EVENTS, name, namespace, bump)


class EventLeases:
    """The etcd leases Events are written on, so that they expire about an hour after creation, as
    kube-apiserver's ``--event-ttl`` (1 h) does: one lease is shared for ``_LEASE_ROTATION_SECONDS``,
    so every Event goes between 1 h and 1 h 10 min after it was written. One home for the recorder's
    writes and the gateway's (Events created by clients)."""

    def __init__(self, store: Store, *, monotonic: Callable[[], float] = clock_monotonic) -> None:
        self.store = store
        self._monotonic = monotonic
        self._lease_id = 0
        self._lease_granted = 0.0

    async def lease(self) -> int:
        """The lease id to write an Event on (granted or rotated as needed; etcd errors propagate)."""
        if not self._lease_id or self._monotonic() - self._lease_granted > _LEASE_ROTATION_SECONDS:
            lease = await self.store.client.lease(EVENT_TTL_SECONDS + _LEASE_ROTATION_SECONDS)
            self._lease_id, self._lease_granted = lease.id, self._monotonic()
        return self._lease_id
