"""Admission's reads, kept for a moment and shared while they are in flight.

Admission plugins read small collections on every write they admit (a pod create reads its
namespace's LimitRanges and ResourceQuotas and the PriorityClasses). kube-apiserver serves those from
informers or short-lived caches; the Store keeps each read for a second. A time-based cache alone
still lets a burst through: when an entry expires under a ReplicaSet's burst of 500 creates, every
create misses at once and sends its own read. Measured through ``kl up`` (bench/bench_kl_up_deploy.py,
1,000 replicas): 0.66 etcd Range per pod created, where one read per collection and second suffices.
So a miss starts one read, and every caller that misses while it runs waits for that read.

What a caller gets is never older than what a lone read started at its call would give, except
that a caller may share a read that started before its own call (as it would have shared the cached
value): :meth:`SharedReads.forget` (a write through this process) makes later callers read anew,
and ``fresh=True`` (a caller that saw a conflict) always reads anew.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from kubelite.util.clock import monotonic

K = TypeVar("K")
V = TypeVar("V")


class _ReaderGone(Exception):
    """The caller whose read others waited for was cancelled: they read themselves."""


class SharedReads(Generic[K, V]):
    """Values by key, each kept ``ttl`` seconds after its read started; at most ``max_entries`` keys
    (all are dropped when full: keys are namespaces and such, which come and go)."""

    def __init__(self, ttl: float, *, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._values: dict[K, tuple[float, V]] = {}
        # the read later callers of a key join; a read that is no longer this key's (forget, a fresh
        # read, a replace since it started) is not kept: something newer than it exists
        self._flights: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, read: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The value of ``key``: kept, or the read in flight, or ``read()`` now. ``fresh``: ``read()``
        now, whatever is kept or in flight. An error of the read is every waiting caller's error."""
        while True:
            if not fresh:
                kept = self._values.get(key)
                if kept is not None and monotonic() - kept[0] < self.ttl:
                    return kept[1]
                flight = self._flights.get(key)
                if flight is not None:
                    try:
                        # shielded: a waiter's cancel must not cancel the read the others wait for
                        return await asyncio.shield(flight)
                    except _ReaderGone:
                        continue
            return await self._lead(key, read)

    async def _lead(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        flight: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        started = monotonic()
        current = False
        try:
            value = await read()
        except asyncio.CancelledError:
            self._settle(flight, _ReaderGone())
            raise
        except BaseException as exc:
            self._settle(flight, exc)
            raise
        finally:
            current = self._flights.get(key) is flight
            if current:
                del self._flights[key]
        if current:
            if len(self._values) >= self.max_entries:
                self._values.clear()
            self._values[key] = (started, value)
        if not flight.done():
            flight.set_result(value)
        return value

    @staticmethod
    def _settle(flight: asyncio.Future[V], exc: BaseException) -> None:
        if not flight.done():
            flight.set_exception(exc)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody waited

    def replace(self, key: K, change: Callable[[V], V]) -> None:
        """Change the kept value of ``key`` in place of a read (a write this process just made); its
        age stays that of the read. Nothing kept: nothing to change. A read of ``key`` in flight began
        before that write: later callers do not join it, and it is not kept."""
        self._flights.pop(key, None)
        kept = self._values.get(key)
        if kept is not None:
            self._values[key] = (kept[0], change(kept[1]))

    def forget(self, key: K | None = None) -> None:
        """Read ``key`` (None: every key) again at the next :meth:`get`; a read of it in flight is not kept."""
        if key is None:
            self._values.clear()
            self._flights.clear()
        else:
            self._values.pop(key, None)
            self._flights.pop(key, None)
