"""One etcd watch per resource, fanned out to every HTTP watcher of that resource.

Without it, 50 ``kubectl get -w`` would mean 50 etcd watches and 50 decodes
of every event. A hub decodes each event once, keeps the last ``buffer_size``
events so a watcher starting from a recent resourceVersion replays them, and
serialises each event at most once per event type. A watcher whose starting
revision is older than the buffer gets ``None`` from :meth:`WatchHubs.subscribe`
and uses a dedicated etcd watch instead (which answers 410 if compacted).

A watcher that falls ``queue_limit`` events behind is cut off (its stream
ends; clients re-watch from their last resourceVersion), as kube-apiserver does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import errors
from kubelite.api.resources import Resource
from kubelite.etcd_client import EtcdClient
from kubelite.etcd_ops import prefix_end, range_
from kubelite.gateway.respond import dumps
from kubelite.supervise import cancel_and_wait
from kubelite.watch import WatchEvent, watch

log = logging.getLogger(__name__)


@dataclass
class HubEvent:
    """A decoded watch event shared by all watchers; JSON documents and lines are computed once."""

    source: WatchEvent
    _doc: dict[str, Any] | None = None
    _old: dict[str, Any] | None = None
    _lines: dict[str, bytes] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.source.type

    @property
    def revision(self) -> int:
        return self.source.revision

    @property
    def namespace(self) -> str | None:
        return self.source.object.metadata.namespace  # type: ignore[no-any-return]

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = self.source.object.to_dict()
        return self._doc

    @property
    def old(self) -> dict[str, Any] | None:
        if self._old is None and self.source.old_object is not None:
            self._old = self.source.old_object.to_dict()
        return self._old

    def line(self, event_type: str) -> bytes:
        cached = self._lines.get(event_type)
        if cached is None:
            cached = self._lines[event_type] = dumps({"type": event_type, "object": self.doc}) + b"\n"
        return cached


# What a subscription's queue carries: events, an error to report (410, ...), or None: end the stream.
QueueItem = HubEvent | errors.ApiError | None


@dataclass(eq=False)
class Subscription:
    namespace: str | None
    from_revision: int
    queue: asyncio.Queue[QueueItem] = field(default_factory=asyncio.Queue)


class ResourceHub:
    def __init__(self, client: EtcdClient, res: Resource, *, start_revision: int, buffer_size: int,
                 queue_limit: int) -> None:
        self.res = res
        self.start_revision = start_revision
        self.buffer: deque[HubEvent] = deque()
        self.buffer_size = buffer_size
        self.queue_limit = queue_limit
        self.evicted_revision = start_revision - 1  # events up to here may no longer be in the buffer
        self.subscribers: set[Subscription] = set()
        self.failed = False
        self._client = client
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"watch hub {self.res.plural}")

    def try_subscribe(self, namespace: str | None, from_revision: int) -> Subscription | None:
        """Synchronous, so replay and registration see the same buffer."""
        if self.failed or from_revision <= self.evicted_revision:
            return None
        sub = Subscription(namespace, from_revision)
        for event in self.buffer:
            if self._wants(sub, event):
                sub.queue.put_nowait(event)
        self.subscribers.add(sub)
        return sub

    @staticmethod
    def _wants(sub: Subscription, event: HubEvent) -> bool:
        return event.revision >= sub.from_revision and (sub.namespace is None or event.namespace == sub.namespace)

    async def _run(self) -> None:
        try:
            async for raw in watch(self._client, self.res, from_revision=self.start_revision):
                event = HubEvent(raw)
                self.buffer.append(event)
                if len(self.buffer) > self.buffer_size:
                    self.evicted_revision = self.buffer.popleft().revision
                for sub in list(self.subscribers):
                    if not self._wants(sub, event):
                        continue
                    if sub.queue.qsize() >= self.queue_limit:
                        log.warning("watcher of %s fell %d events behind; closing its stream", self.res.plural,
                                    self.queue_limit)
                        self.subscribers.discard(sub)
                        sub.queue.put_nowait(None)
                    else:
                        sub.queue.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except errors.ApiError as exc:
            self._fail(exc)
        except Exception as exc:
            log.exception("watch hub %s failed", self.res.plural)
            self._fail(errors.internal(f"watch failed: {exc}"))

    def _fail(self, error: errors.ApiError) -> None:
        self.failed = True
        for sub in list(self.subscribers):
            sub.queue.put_nowait(error)
        self.subscribers.clear()

    async def stop(self) -> None:
        if self.task is not None:
            await cancel_and_wait(self.task)
        for sub in list(self.subscribers):
            sub.queue.put_nowait(None)
        self.subscribers.clear()


class WatchHubs:
    """The hubs of one gateway, created on first use and stopped when idle for ``idle_seconds``."""

    def __init__(self, client: EtcdClient, *, buffer_size: int = 2000, queue_limit: int = 10_000,
                 idle_seconds: float = 30.0) -> None:
        self._client = client
        self._hubs: dict[str, ResourceHub] = {}
        self._lock = asyncio.Lock()
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self.buffer_size = buffer_size
        self.queue_limit = queue_limit
        self.idle_seconds = idle_seconds

    async def subscribe(self, res: Resource, namespace: str | None, from_revision: int) -> Subscription | None:
        hub = self._hubs.get(res.plural)
        if hub is None or hub.failed:
            async with self._lock:
                hub = self._hubs.get(res.plural)
                if hub is None or hub.failed:
                    hub = await self._new_hub(res)
        timer = self._idle_timers.pop(res.plural, None)
        if timer is not None:
            timer.cancel()
        return hub.try_subscribe(namespace, from_revision)

    async def _new_hub(self, res: Resource) -> ResourceHub:
        prefix = res.prefix()
        response = await range_(self._client, prefix, range_end=prefix_end(prefix), count_only=True,
                                what=f"watch hub {res.plural}")
        hub = ResourceHub(self._client, res, start_revision=int(response.header.revision) + 1,
                          buffer_size=self.buffer_size, queue_limit=self.queue_limit)
        hub.start()
        self._hubs[res.plural] = hub
        return hub

    def unsubscribe(self, res: Resource, sub: Subscription) -> None:
        hub = self._hubs.get(res.plural)
        if hub is None:
            return
        hub.subscribers.discard(sub)
        if not hub.subscribers and res.plural not in self._idle_timers:
            loop = asyncio.get_running_loop()
            self._idle_timers[res.plural] = loop.call_later(self.idle_seconds, self._stop_if_idle, res.plural)

    def _stop_if_idle(self, plural: str) -> None:
        self._idle_timers.pop(plural, None)
        hub = self._hubs.get(plural)
        if hub is not None and not hub.subscribers:
            del self._hubs[plural]
            asyncio.get_running_loop().create_task(hub.stop())

    async def stop(self) -> None:
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        hubs, self._hubs = list(self._hubs.values()), {}
        for hub in hubs:
            await hub.stop()
