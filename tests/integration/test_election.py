"""Leader election against a real etcd, with a leader in a process the test kills."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from kubelite.api.resources import PODS
from kubelite.client.election import LeaderElection
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.client.reconcile import ReconcileLoop, Result
from kubelite.storage.store import NotLeader, Store
from kubelite.client.workqueue import RateLimiter, WorkQueue
from tests.factories import make_pod
from tests.helpers import wait_for

LEADER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from kubelite.client.election import LeaderElection
    from kubelite.etcd.client import EtcdConfig, connect

    async def main():
        client = await connect(EtcdConfig(endpoints=(sys.argv[1],)))
        election = LeaderElection(client, "process-leader", name="test", ttl=int(sys.argv[2]))
        await election.campaign()
        print("LEADING", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_second_candidate_waits_then_leads_after_resign(etcd_client: EtcdClient) -> None:
    first = LeaderElection(etcd_client, "a", name="test", ttl=5)
    second = LeaderElection(etcd_client, "b", name="test", ttl=5)
    await first.campaign()
    assert first.is_leader and await first.holder() == "a"
    waiting = asyncio.create_task(second.campaign())
    await asyncio.sleep(0.3)
    assert not waiting.done(), "a second leader was elected while the first still leads"
    await first.resign()
    fence = await asyncio.wait_for(waiting, 2)  # resigning revokes at once: no waiting out the 5 s TTL
    assert second.is_leader and await second.holder() == "b"
    assert fence.create_revision > 0
    await second.resign()


async def test_killed_leader_is_replaced_within_the_lease_ttl(etcd: EmbeddedEtcd, etcd_client: EtcdClient) -> None:
    ttl = 2
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER_SCRIPT, etcd.endpoint, str(ttl)], stdout=subprocess.PIPE, text=True,
        cwd=os.getcwd(),
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(leader.stdout.readline), 20)  # type: ignore[union-attr]
        assert line.strip() == "LEADING"
        candidate = LeaderElection(etcd_client, "survivor", name="test", ttl=ttl)
        campaign = asyncio.create_task(candidate.campaign())
        await asyncio.sleep(0.2)
        assert not campaign.done()
        killed_at = asyncio.get_running_loop().time()
        leader.send_signal(signal.SIGKILL)
        await asyncio.wait_for(campaign, ttl + 3)
        took = asyncio.get_running_loop().time() - killed_at
        assert took <= ttl + 2, f"took {took:.1f}s to take over"
        record = await candidate._current()
        assert record is not None and record.spec.holder_identity == "survivor"
        assert record.spec.lease_transitions == 1
        await candidate.resign()
    finally:
        leader.kill()
        leader.wait()


async def test_deposed_leader_writes_are_rejected_by_the_fence(store: Store, etcd_client: EtcdClient) -> None:
    old = LeaderElection(etcd_client, "old", name="test", ttl=1)
    old_fence = await old.campaign()
    await store.create(PODS, make_pod("by-old"), fence=old_fence)
    # The old leader freezes: its keepalive stops but it still believes it leads.
    assert old.session is not None and old._renewer is not None
    old._renewer.cancel()
    await old.session.stop(revoke=False)
    new = LeaderElection(etcd_client, "new", name="test", ttl=5)
    new_fence = await asyncio.wait_for(new.campaign(), 10)
    assert new_fence.create_revision != old_fence.create_revision
    with pytest.raises(NotLeader):
        await store.create(PODS, make_pod("late-write"), fence=old_fence)
    with pytest.raises(NotLeader):
        await store.delete(PODS, "by-old", "default", fence=old_fence)
    await store.create(PODS, make_pod("by-new"), fence=new_fence)
    names = {p.name for p in (await store.list(PODS, "default")).items}
    assert names == {"by-old", "by-new"}
    await new.resign()


async def test_leader_notices_lease_loss(etcd_client: EtcdClient) -> None:
    election = LeaderElection(etcd_client, "x", name="test", ttl=5)
    await election.campaign()
    assert election.session is not None
    await etcd_client.revoke_lease(election.session.lease_id)
    await asyncio.wait_for(election.wait_lost(), 10)
    await wait_for(lambda: not election.is_leader, message="no longer leader")
    assert await election.holder() is None
    await election.resign()


async def test_a_deposed_leaders_fenced_write_is_logged_as_fenced_not_as_a_conflict(
    store: Store, etcd_client: EtcdClient, caplog: pytest.LogCaptureFixture,
) -> None:
    """Operators must tell "this manager lost leadership" from an ordinary resourceVersion conflict."""
    old = LeaderElection(etcd_client, "old", name="test", ttl=1)
    old_fence = await old.campaign()
    created = await store.create(PODS, make_pod("p"), fence=old_fence)
    assert old.session is not None and old._renewer is not None
    old._renewer.cancel()
    await old.session.stop(revoke=False)
    new = LeaderElection(etcd_client, "new", name="test", ttl=5)
    await asyncio.wait_for(new.campaign(), 10)

    async def reconcile(key: str) -> Result | None:
        stale = created.deep_copy()
        stale.metadata.labels = {"by": "old"}
        if key == "conflict":  # an ordinary conflict, for contrast: a resourceVersion that is gone
            stale.metadata.resource_version = "1"
            await store.update(PODS, stale)
        await store.update(PODS, stale, fence=old_fence)
        return None

    queue = WorkQueue(rate_limiter=RateLimiter(base_delay=60.0, max_delay=60.0))
    loop = ReconcileLoop("test-controller", queue, reconcile, workers=1)
    with caplog.at_level(logging.WARNING, logger="kubelite.client.reconcile"):
        await loop.process("default/p")
        await loop.process("conflict")
    fenced, conflict = [r.getMessage() for r in caplog.records if r.name == "kubelite.client.reconcile"]
    assert "default/p: fenced: not the leader" in fenced and "lost; write refused" in fenced
    assert "fenced" not in conflict and "modified" in conflict
    assert loop.fenced == 1 and loop.errors == 1
    # fenced: dropped for this term (the next term queues every key again); a conflict is retried
    assert queue.rate_limiter.num_requeues("default/p") == 0
    assert queue.rate_limiter.num_requeues("conflict") == 1
    assert (await store.get(PODS, "p", "default")).metadata.labels is None  # nothing written
    await new.resign()
