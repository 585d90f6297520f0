"""An etcd lease kept alive by a background task, with a notice of loss.

Keys attached to the lease vanish when it expires: that is how node liveness
and leadership are expressed. The keepalive runs every TTL/3 (a little
earlier, jittered: ``kubelite.util.jitter``); the session is ``lost`` once etcd says
the lease is gone or nothing confirmed it for a whole TTL (then etcd has
expired it, or will, and the holder must act as if it did).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aetcd

from kubelite.etcd.client import EtcdClient
from kubelite.util import clock
from kubelite.util.jitter import first_phase, jittered
from kubelite.util.supervise import cancel_and_wait

log = logging.getLogger(__name__)

KEEPALIVE_JITTER = 0.04  # like the kubelet's lease controller (wait.JitterUntil factor)


class LeaseSession:
    """One lease; create a new session after loss (a lost lease never comes back)."""

    def __init__(self, client: EtcdClient, ttl: int, *, monotonic: Callable[[], float] = clock.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.lease_id = 0
        self.lost = asyncio.Event()
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Grant the lease (raises if etcd does not answer) and start the keepalive."""
        lease = await self.client.lease(self.ttl)
        self.lease_id = lease.id
        self._task = asyncio.create_task(self._keepalive(), name=f"lease-{self.lease_id:x}")

    async def stop(self, *, revoke: bool = True) -> None:
        """Stop the keepalive; revoking deletes the attached keys at once instead of after the TTL."""
        still_held = not self.lost.is_set()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if revoke and self.lease_id and still_held:
            with contextlib.suppress(aetcd.ClientError):
                await self.client.revoke_lease(self.lease_id)
        self.lost.set()

    async def _keepalive(self) -> None:
        confirmed = self._monotonic()
        # Renewals a little early and at a random phase: many holders that took their
        # leases together (a thousand sim nodes) spread their keepalives over the interval.
        wait = first_phase(self.ttl / 3)
        try:
            while True:
                await asyncio.sleep(wait)
                wait = jittered(self.ttl / 3 * (1 - KEEPALIVE_JITTER), KEEPALIVE_JITTER)  # never after TTL/3
                sent = self._monotonic()
                try:
                    reply = await asyncio.wait_for(self.client.refresh_lease(self.lease_id), self.ttl / 3)
                except (aetcd.ClientError, TimeoutError) as exc:
                    log.warning("lease %x: keepalive failed: %s", self.lease_id, exc)
                    await self.client.report_unavailable()
                    if self._monotonic() - confirmed >= self.ttl:
                        log.error("lease %x: unconfirmed for %ss; treating it as lost", self.lease_id, self.ttl)
                        return
                    continue
                if reply is None or reply.TTL <= 0:
                    log.error("lease %x: etcd says it expired", self.lease_id)
                    return
                confirmed = sent
        finally:
            self.lost.set()
