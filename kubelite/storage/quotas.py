"""The ResourceQuota admission's reads and writes for the Store (the rules are
:mod:`kubelite.registry.resourcequota`): which quotas a write compares and what it puts into them.

A namespace's quotas are read once and reused for ADMISSION_CACHE_SECONDS, as the LimitRanges are (kube's
plugin reads them through an informer, a moment behind): a quota created meanwhile by another process is
missed for at most that long; one written through the same Store is read again at once. A quota that was
read is safe however stale: the charged write's txn compares the mod_revision of every quota read
(charged or not), and a failed compare makes the Store admit the write again on a fresh read. A refusal
is never made on a cached read: it is checked again on what etcd has.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.api import errors, quota
from kubelite.api.meta import KubeObject
from kubelite.api.resources import RESOURCEQUOTAS, Resource
from kubelite.registry import resourcequota
from kubelite.storage import codec
from kubelite.storage.sharedreads import SharedReads

Doc = dict[str, Any]
_MAX_NAMESPACES = 4096  # bounded: namespaces come and go


@dataclass(frozen=True)
class QuotaRead:
    """A ResourceQuota as admission read it: its key, mod_revision and stored document."""

    key: str
    mod_revision: int
    doc: Doc


@dataclass(frozen=True)
class Charge:
    """A quota's new ``status.used``: ``value`` is put in the charged write's txn."""

    key: str
    doc: Doc
    value: bytes


class QuotaChanged(Exception):
    """A quota the write compared changed since admission read it: admit the write again."""


class QuotaAdmission:
    """``list_quotas(namespace)``: the namespace's ResourceQuota documents with their resourceVersion;
    ``stored_bytes(key, json)``: what goes into etcd for a quota (encrypted at rest when configured)."""

    def __init__(self, list_quotas: Callable[[str], Awaitable[list[Doc]]], stored_bytes: Callable[[str, bytes], bytes],
                 clock: Callable[[], datetime], *, cache_seconds: float) -> None:
        self._list = list_quotas
        self._stored_bytes = stored_bytes
        self._clock = clock
        self._reads: SharedReads[str, list[QuotaRead]] = SharedReads(cache_seconds, max_entries=_MAX_NAMESPACES)
        self._turns: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def turn(self, namespace: str, needed: bool) -> AsyncIterator[None]:
        """One charged write at a time per namespace in this process (``needed``: the namespace has quotas).
        Writers then compare the revisions the previous one wrote (:meth:`written`) instead of failing each
        other's compares: kube-apiserver's quota admission works through a namespace's writes in one worker
        for the same reason. Writers in other processes still only cost a retry."""
        if not needed:
            yield
            return
        lock = self._turns.get(namespace)
        if lock is None:
            if len(self._turns) >= _MAX_NAMESPACES:  # bounded: drop the idle ones
                self._turns = {ns: held for ns, held in self._turns.items() if held.locked()}
            lock = self._turns[namespace] = asyncio.Lock()
        async with lock:
            yield

    async def charges(self, res: Resource, new: KubeObject, old: KubeObject | None, *,
                      fresh: bool) -> tuple[list[QuotaRead], list[Charge]]:
        """(the namespace's quotas as read: the write compares them all, the charges to put), or ApiError
        403 when a quota refuses. ``old``: the stored object an update replaces (None: a create)."""
        if not res.namespaced or (res.plural, res.group) in quota.IGNORED or \
                (old is not None and not quota.charged_on_update(res.plural, res.group)):
            return [], []  # no I/O for writes that cannot charge anything: Events, updates but Services' and claims'
        reads = await self._read(new.metadata.namespace or "", fresh=fresh)
        if not reads:
            return [], []
        try:
            changed = resourcequota.charge(res.plural, res.group, [r.doc for r in reads], new, old, name=new.name,
                                           now=self._clock())
        except errors.ApiError:
            if fresh:
                raise
            changed = None
        if changed is None:  # refused on a cached read: refuse only on what etcd has
            return await self.charges(res, new, old, fresh=True)
        return reads, [Charge(reads[i].key, doc, self._stored_bytes(reads[i].key, codec.dumps(doc)))
                       for i, doc in changed.items()]

    def written(self, namespace: str, charges: Sequence[Charge], revision: int) -> None:
        """After a charged write at ``revision``: the cached quotas as written (the next write compares these)."""
        if not charges:
            return
        updated = {c.key: QuotaRead(c.key, revision, c.doc) for c in charges}
        self._reads.replace(namespace, lambda reads: [updated.get(r.key, r) for r in reads])

    def forget(self, namespace: str | None = None) -> None:
        """A quota written through this Store: read them again (one namespace's, or all)."""
        self._reads.forget(namespace)

    async def _read(self, namespace: str, *, fresh: bool) -> list[QuotaRead]:
        """The namespace's quotas, kept a moment and shared by concurrent writes (kubelite.storage.sharedreads)."""
        async def read() -> list[QuotaRead]:
            reads = []
            for doc in await self._list(namespace):
                meta = doc["metadata"]
                revision = int(meta.pop("resourceVersion"))
                reads.append(QuotaRead(RESOURCEQUOTAS.key(meta.get("name", ""), namespace), revision, doc))
            return reads
        return await self._reads.get(namespace, read, fresh=fresh)
