"""Leader election on an etcd lease, with a fence for every write of the leader.

Campaign = create the election key if absent, attached to the candidate's
lease. The key's create_revision identifies the reign: the leader's writes
compare it (:class:`~kubelite.storage.store.Fence`), so once the lease expires and
someone else creates the key, a deposed leader's writes fail instead of
racing the new leader. The key's value is a coordination.k8s.io Lease, so
``kl get lease -n kube-system`` shows who leads.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import aetcd

from kubelite.api import errors
from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import LEASES
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import cmp_version, op_get, op_put, range_, txn
from kubelite.client.lease import LeaseSession
from kubelite.storage.store import Clock, Fence, decode, encode
from kubelite.util.clock import now_seconds
from kubelite.util.supervise import cancel_and_wait
from kubelite.storage.watch import watch

log = logging.getLogger(__name__)

_ETCD_ERRORS = (aetcd.ClientError, errors.ApiError)


class LeaderElection:
    """Campaign, hold, observe and resign one leadership."""

    def __init__(
        self, client: EtcdClient, identity: str, *, name: str = "kubelite-controller-manager",
        namespace: str = "kube-system", ttl: int = 15, clock: Clock = now_seconds,
    ) -> None:
        self.client = client
        self.identity = identity
        self.name = name
        self.namespace = namespace
        self.ttl = ttl
        self.clock = clock
        self.key = LEASES.key(name, namespace)
        self.fence: Fence | None = None
        self.session: LeaseSession | None = None
        self._renewer: asyncio.Task[None] | None = None
        # The key vanishes with the holder's lease; remembering the last record keeps leaseTransitions counting.
        self._last_seen: Lease | None = None

    @property
    def is_leader(self) -> bool:
        return self.fence is not None and self.session is not None and not self.session.lost.is_set()

    async def campaign(self) -> Fence:
        """Block until this candidate leads; returns the fence its writes must carry."""
        while True:
            try:
                fence = await self._try_acquire()
            except _ETCD_ERRORS as exc:
                log.warning("election %s: etcd error while campaigning: %s", self.key, exc)
                await asyncio.sleep(1.0)
                continue
            if fence is not None:
                return fence

    async def _try_acquire(self) -> Fence | None:
        session = LeaseSession(self.client, self.ttl)
        await session.start()
        previous = await self._current() or self._last_seen
        self._last_seen = previous
        transitions = (previous.spec.lease_transitions or 0) + 1 if previous else 0
        now = self.clock()
        record = Lease(
            metadata=ObjectMeta(name=self.name, namespace=self.namespace, uid=str(uuid.uuid4()),
                                creation_timestamp=now),
            spec=LeaseSpec(holder_identity=self.identity, lease_duration_seconds=self.ttl, acquire_time=now,
                           renew_time=now, lease_transitions=transitions),
        )
        response = await txn(
            self.client, [cmp_version(self.key, "==", 0)], [op_put(self.key, encode(record), session.lease_id)],
            [op_get(self.key)], what=f"campaign {self.key}",
        )
        if response.succeeded:
            self.session = session
            self.fence = Fence(self.key, response.header.revision)
            self._renewer = asyncio.create_task(self._renew(record), name=f"election-renew-{self.name}")
            log.info("election %s: %s leads (reign %d)", self.key, self.identity, self.fence.create_revision)
            return self.fence
        await session.stop(revoke=True)
        holder_revision = response.header.revision
        await self._wait_for_vacancy(holder_revision)
        return None

    async def _wait_for_vacancy(self, revision: int) -> None:
        """Watch the election key until it is deleted (the leader's lease expired or it resigned)."""
        probe = await range_(self.client, self.key, what=f"observe {self.key}")
        if not probe.kvs:
            return
        async for event in watch(self.client, LEASES, self.namespace, from_revision=revision + 1):
            if event.type == "DELETED" and event.object.metadata.name == self.name:
                return

    async def _current(self) -> Lease | None:
        response = await range_(self.client, self.key, what=f"read {self.key}")
        if not response.kvs:
            return None
        kv = response.kvs[0]
        return decode(LEASES, kv.value, kv.mod_revision)

    async def holder(self) -> str | None:
        current = await self._current()
        return current.spec.holder_identity if current else None

    async def _renew(self, record: Lease) -> None:
        """Keep renewTime current (visible liveness), fenced: a failed compare means we were deposed."""
        assert self.session is not None and self.fence is not None
        lost = asyncio.create_task(self.session.lost.wait())
        try:
            while True:
                done, _ = await asyncio.wait({lost}, timeout=self.ttl / 3)
                if done:
                    log.warning("election %s: lease lost; %s steps down", self.key, self.identity)
                    return
                record.spec.renew_time = self.clock()
                try:
                    response = await txn(
                        self.client, [self.fence.compare()],
                        [op_put(self.key, encode(record), keep_lease=True)], [], what=f"renew {self.key}",
                    )
                except _ETCD_ERRORS as exc:
                    log.warning("election %s: renew failed: %s", self.key, exc)
                    continue
                if not response.succeeded:
                    log.warning("election %s: deposed; %s steps down", self.key, self.identity)
                    await self.session.stop(revoke=False)
                    return
        finally:
            lost.cancel()

    async def wait_lost(self) -> None:
        """Returns when leadership is gone: the caller must stop every leader-only task."""
        assert self.session is not None
        await self.session.lost.wait()

    async def resign(self) -> None:
        """Give up at once: revoking the lease deletes the key, waking the next candidate."""
        if self._renewer is not None:
            await cancel_and_wait(self._renewer)
            self._renewer = None
        if self.session is not None:
            await self.session.stop(revoke=True)
        self.fence = None
        self.session = None
