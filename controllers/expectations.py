"""What a controller wrote but has not yet seen through its watch (Kubernetes' expectations).

The ReplicaSet controller records every pod it creates or deletes, by pod
key, under its owner's key; the pod informer's events clear them. While an
owner has pending expectations its cache is known to be behind its own
writes, so it does not act on the count (no over- or under-provisioning).

Names, not counts: the created pod's name is known when ``create`` returns,
and asyncio runs one thing at a time, so "is it already in the cache?" can be
checked right after the write without a race.

A new leader starts empty, but the previous leader may have written pods its
cache has not caught up with yet. :meth:`seed_from_diff` compares a quorum
list of etcd with the cache and records every difference as pending, so the
new leader waits exactly until its watch has delivered them.

Entries expire after ``ttl`` seconds as a safety net (a write whose result
was lost in a timeout might never show up), as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kubelite.util.clock import monotonic


@dataclass
class _Pending:
    adds: set[str] = field(default_factory=set)
    deletes: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    def __init__(self, *, ttl: float = 300.0, clock: Callable[[], float] = monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._owners: dict[str, _Pending] = {}

    def _entry(self, owner: str) -> _Pending:
        entry = self._owners.get(owner)
        if entry is None:
            entry = self._owners[owner] = _Pending(since=self._clock())
        return entry

    def expect_create(self, owner: str, pod: str) -> None:
        self._entry(owner).adds.add(pod)

    def expect_delete(self, owner: str, pod: str) -> None:
        self._entry(owner).deletes.add(pod)

    def observed_create(self, owner: str, pod: str) -> None:
        self._discard(owner, pod, adds=True)

    def observed_delete(self, owner: str, pod: str) -> None:
        """The pod is gone or terminating; also settles a create never seen (created then deleted)."""
        self._discard(owner, pod, adds=True)
        self._discard(owner, pod, adds=False)

    def _discard(self, owner: str, pod: str, *, adds: bool) -> None:
        entry = self._owners.get(owner)
        if entry is None:
            return
        (entry.adds if adds else entry.deletes).discard(pod)
        if not entry.adds and not entry.deletes:
            del self._owners[owner]

    def satisfied(self, owner: str) -> bool:
        entry = self._owners.get(owner)
        if entry is None:
            return True
        if self._clock() - entry.since > self.ttl:
            del self._owners[owner]
            return True
        return False

    def pending(self, owner: str) -> tuple[int, int]:
        entry = self._owners.get(owner)
        return (len(entry.adds), len(entry.deletes)) if entry else (0, 0)

    def owners(self) -> list[str]:
        return list(self._owners)

    def forget(self, owner: str) -> None:
        self._owners.pop(owner, None)

    def clear(self) -> None:
        self._owners.clear()

    def seed_from_diff(
        self, etcd: Iterable[tuple[str, str, bool]], cache: Iterable[tuple[str, str, bool]],
    ) -> int:
        """Record what etcd has and the cache has not seen yet; returns how many entries.

        Both iterables give (owner key, pod key, active) for owned pods.
        A pod in etcd but not in the cache is a pending create; a pod
        active in the cache but gone or terminating in etcd is a pending
        delete.
        """
        in_etcd = {pod: (owner, active) for owner, pod, active in etcd}
        in_cache = {pod: (owner, active) for owner, pod, active in cache}
        count = 0
        for pod, (owner, _active) in in_etcd.items():
            if pod not in in_cache:
                self.expect_create(owner, pod)
                count += 1
        for pod, (owner, active) in in_cache.items():
            now = in_etcd.get(pod)
            if active and (now is None or not now[1]):
                self.expect_delete(owner, pod)
                count += 1
        return count
