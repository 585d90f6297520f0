"""Watching a resource in etcd as a stream of typed events that survives etcd trouble.

aetcd watches neither reconnect nor notice a silent server (ENVIRONMENT.md);
this stream resumes from the last seen revision + 1 after any connection
error, so no event is lost or repeated, and a watchdog read breaks a hung
stream. Only compaction ends it: :class:`WatchExpired` (HTTP 410) tells the
consumer to re-list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aetcd

from kubelite.api import errors
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import Resource
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import prefix_end, range_
from kubelite.util import clock
from kubelite.util.supervise import cancel_and_wait
from kubelite.etcd.encryption import Encryption
from kubelite.storage.store import client_encryption, decode

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
RawFilter = Callable[[bytes], bool]


class WatchEvent:
    """One change of a watched resource: ``type``, the decoded ``object`` (for DELETED, its last state
    at the deletion's revision), ``old_object`` (the state before, None for ADDED) and the etcd
    ``revision``.

    ``old_object`` of a MODIFIED event is decoded only when read (``decode_old``): an informer takes
    the object it replaces from its own cache, as client-go's does, so decoding etcd's ``prev_kv``
    for every update was half of an informer's decode work (issue 12's profile)."""

    __slots__ = ("type", "object", "revision", "_old", "_decode_old")

    def __init__(self, type: EventType, object: Any, old_object: Any | None, revision: int, *,  # noqa: A002
                 decode_old: Callable[[], Any] | None = None) -> None:
        self.type = type
        self.object = object
        self.revision = revision
        self._old = old_object
        self._decode_old = decode_old

    @property
    def old_object(self) -> Any | None:
        if self._decode_old is not None:
            self._old, self._decode_old = self._decode_old(), None
        return self._old

    def __repr__(self) -> str:
        return f"WatchEvent({self.type}, {self.object!r}, revision={self.revision})"


class WatchExpired(errors.ApiError):
    """The revision to resume from was compacted away: re-list, then watch again."""

    def __init__(self, revision: int, compacted: int) -> None:
        super().__init__(
            errors.gone(f"too old resource version: {revision} ({compacted})").status
        )
        self.compacted = compacted


@dataclass(frozen=True)
class WatchOptions:
    watchdog_interval: float = 5.0
    retry_delay: float = 0.2
    max_retry_delay: float = 2.0


async def watch(
    client: EtcdClient, res: Resource, namespace: str | None = None, *, from_revision: int,
    options: WatchOptions = WatchOptions(), raw_filter: RawFilter | None = None,
) -> AsyncIterator[WatchEvent]:
    """Events of ``res`` with revision >= ``from_revision``, forever (until the consumer stops).

    ``raw_filter`` sees stored JSON before it is decoded; events whose old
    and new values both fail it are skipped undecoded (a cheap pre-filter for
    consumers that want few of many objects, such as an agent's own pods).
    """
    events = watch_raw(client, res.prefix(namespace), from_revision=from_revision, options=options)
    encryption = client_encryption(client)
    try:
        async for raw in events:
            if raw_filter is not None and not _passes(raw, raw_filter):
                continue
            yield to_event(res, raw, encryption)
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def watch_raw(
    client: EtcdClient, prefix: str, *, from_revision: int, options: WatchOptions = WatchOptions(),
) -> AsyncIterator[aetcd.rtypes.Event]:
    """etcd's own events under ``prefix`` (with ``prev_kv``) from ``from_revision``, undecoded, forever.

    For consumers that decode lazily or never (the gateway's watch hubs); resumes
    like :func:`watch` and raises :class:`WatchExpired` on compaction.
    """
    next_revision = from_revision
    delay = options.retry_delay
    while True:
        try:
            stream = await client.watch(
                prefix.encode(), range_end=prefix_end(prefix), start_revision=next_revision, prev_kv=True
            )
        except aetcd.RevisionCompactedError as exc:
            raise WatchExpired(next_revision, exc.compacted_revision) from exc
        except aetcd.ClientError as exc:
            log.warning("watch %s from %d: cannot start (%s); retrying", prefix, next_revision, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, options.max_retry_delay)
            continue
        cancel = _canceller(client, stream)
        watchdog = _watchdog_of(client).join(prefix, options.watchdog_interval)
        try:
            async for raw in stream:
                delay = options.retry_delay
                next_revision = raw.kv.mod_revision + 1
                yield raw
        except aetcd.RevisionCompactedError as exc:
            raise WatchExpired(next_revision, exc.compacted_revision) from exc
        except aetcd.ClientError as exc:
            log.warning("watch %s broke at revision %d (%s); resuming", prefix, next_revision, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, options.max_retry_delay)
        finally:
            await _watchdog_of(client).leave(watchdog)
            _cancel_in_background(cancel, options.watchdog_interval)


_cancelling: set[asyncio.Task[None]] = set()


def _canceller(client: EtcdClient, stream: aetcd.rtypes.Watch) -> Callable[[], Awaitable[None]]:
    """A cancel for this watch that never hits another one.

    aetcd's ``Watch.cancel`` cancels by watch id on the client's *current*
    watcher, but etcd numbers watches per gRPC stream, from 0: once the stream
    broke (a killed member, a failover, a watchdog reset) and watches resumed,
    the old id may belong to a resumed watch, which that cancel would end
    silently (no event, no error, ever). So cancel only while the id still
    maps to this watch's own callback on the watcher it was created on.
    """
    watcher = client._watcher  # noqa: SLF001 - aetcd exposes no safer handle
    callback = watcher._callbacks.get(stream.watch_id) if watcher is not None else None  # noqa: SLF001

    async def cancel() -> None:
        if watcher is None or callback is None:
            return
        async with watcher._lock:  # noqa: SLF001
            if watcher._callbacks.get(stream.watch_id) is not callback:  # noqa: SLF001
                return  # the stream it lived on is gone, and the watch with it
            del watcher._callbacks[stream.watch_id]  # noqa: SLF001
            await watcher._enqueue_watch_cancel(watch_id=stream.watch_id)  # noqa: SLF001

    return cancel


def _cancel_in_background(cancel: Callable[[], Awaitable[None]], timeout: float) -> None:
    """Cancel the etcd watch without making the consumer wait.

    aetcd's cancel queues a request on a bounded queue under a lock; when the
    stream is being torn down nobody drains that queue, and an awaited cancel
    would hang whoever is stopping (an informer, a whole controller-manager).
    """

    async def run() -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(cancel(), timeout)

    task = asyncio.get_running_loop().create_task(run())
    _cancelling.add(task)
    task.add_done_callback(_cancelling.discard)


def _passes(raw: aetcd.rtypes.Event, raw_filter: RawFilter) -> bool:
    prev = raw.prev_kv
    if prev is None or not prev.version:
        return raw.kind == "DELETE" or raw_filter(raw.kv.value)
    return raw_filter(prev.value) or (raw.kind != "DELETE" and raw_filter(raw.kv.value))


def to_event(res: Resource, raw: aetcd.rtypes.Event, encryption: Encryption | None = None) -> WatchEvent:
    kv, prev = raw.kv, raw.prev_kv

    def decode_old() -> Any:
        return (decode(res, prev.value, prev.mod_revision, encryption, key=kv.key)
                if prev is not None and prev.version else None)

    if raw.kind == "DELETE":
        old = decode_old()
        if old is None:
            old = _placeholder(res, kv.key.decode())
        deleted = old.model_copy()
        deleted.metadata = old.metadata.model_copy(update={"resource_version": str(kv.mod_revision)})
        return WatchEvent("DELETED", deleted, old, kv.mod_revision)
    obj = decode(res, kv.value, kv.mod_revision, encryption, key=kv.key)
    if kv.version == 1:
        return WatchEvent("ADDED", obj, None, kv.mod_revision)
    return WatchEvent("MODIFIED", obj, None, kv.mod_revision, decode_old=decode_old)


def _placeholder(res: Resource, key: str) -> Any:
    """A deleted object whose previous value etcd no longer has: only its name is known."""
    parts = key.removeprefix(res.prefix()).split("/")
    namespace, name = (parts[0], parts[1]) if res.namespaced else (None, parts[0])
    return res.model(metadata=ObjectMeta(name=name, namespace=namespace))


class _Watchdog:
    """Break a client's watch stream when etcd stops answering reads: the stream may be hung too.

    One per client, shared by all its watches: aetcd carries every watch of a client on one stream,
    which :meth:`EtcdClient.reset_watch_stream` resets, so one probe tells for all of them. (One per
    watch made an idle cluster's hundred watches send etcd twenty reads a second.) The probe is a
    count-only range of a watched prefix (a reader may read what it watches, whatever etcd role it
    has), every ``interval`` seconds, the shortest any watch asked for, and only when no other KV
    call on the client (a read, a write: :meth:`EtcdClient.report_success`) was answered since the
    last check: a process that reads or writes anyway sends etcd no probes of its own.
    """

    def __init__(self, client: EtcdClient) -> None:
        self._client = weakref.ref(client)  # weak: the registry is keyed by the client, weakly
        self._watches: dict[int, tuple[str, float]] = {}  # token -> (prefix, interval)
        self._next = 0
        self._task: asyncio.Task[None] | None = None

    def join(self, prefix: str, interval: float) -> int:
        """Watch ``prefix`` over this client; returns the token to :meth:`leave` with."""
        self._next += 1
        self._watches[self._next] = (prefix, interval)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="etcd-watchdog")
        return self._next

    async def leave(self, token: int) -> None:
        self._watches.pop(token, None)
        if not self._watches and self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)

    async def _run(self) -> None:
        failures = 0
        checked = clock.monotonic()
        while self._watches:
            await asyncio.sleep(min(interval for _, interval in self._watches.values()))
            if not self._watches:
                return
            prefix = next(iter(self._watches.values()))[0]
            client = self._client()
            if client is None:
                return
            if client.last_success > checked:
                # The member answered a read or a write since the last check, on the channel that
                # carries the watch stream (gRPC's pick_first: one connection at a time): it is not
                # silent, and a probe would only add etcd load.
                checked = clock.monotonic()
                failures = 0
                continue
            try:
                await range_(client, prefix, range_end=prefix_end(prefix), count_only=True,
                             what=f"watchdog {prefix}")
                failures = 0
            except errors.ApiError as exc:
                failures += 1
                if failures >= 2:
                    log.warning("watchdog %s: etcd silent (%s); resetting watch stream", prefix, exc)
                    await client.reset_watch_stream(f"watchdog: {exc}")
                    failures = 0
            checked = clock.monotonic()


_watchdogs: weakref.WeakKeyDictionary[EtcdClient, _Watchdog] = weakref.WeakKeyDictionary()


def _watchdog_of(client: EtcdClient) -> _Watchdog:
    watchdog = _watchdogs.get(client)
    if watchdog is None:
        watchdog = _watchdogs[client] = _Watchdog(client)
    return watchdog
