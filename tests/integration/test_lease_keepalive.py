"""Lease renewals on one long-lived LeaseKeepAlive stream per client (kubelite/etcd/keepalive.py),
against a real etcd: many renewals of several leases open one stream, a revoked lease answers TTL 0
or less, and a stream broken by an etcd restart is replaced by the next renewal."""

from __future__ import annotations

import asyncio
import os
import signal

import aetcd
import pytest

from kubelite.etcd.client import EtcdClient
from kubelite.etcd.server import EmbeddedEtcd
from tests.helpers import etcd_requests, wait_for


async def _streams_started(etcd: EmbeddedEtcd) -> float:
    import urllib.request

    def read() -> float:
        with urllib.request.urlopen(f"{etcd.client_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("grpc_server_started_total{") and 'grpc_method="LeaseKeepAlive"' in line)
    return await asyncio.to_thread(read)


async def test_renewals_share_one_stream_and_a_revoked_lease_answers_gone(etcd_client: EtcdClient,
                                                                          etcd: EmbeddedEtcd) -> None:
    leases = [await etcd_client.lease(30) for _ in range(3)]
    before = await _streams_started(etcd)
    replies = await asyncio.gather(*(etcd_client.renew_lease(lease.id, 5.0) for _ in range(10) for lease in leases))
    assert [r.ID for r in replies] == [lease.id for _ in range(10) for lease in leases]
    assert all(r.TTL > 0 for r in replies)
    assert await _streams_started(etcd) - before == 1  # aetcd's refresh_lease: one stream per renewal, 30
    assert await etcd_requests(etcd, "LeaseKeepAlive") == 0  # still open: no stream has ended

    await etcd_client.revoke_lease(leases[0].id)
    assert (await etcd_client.renew_lease(leases[0].id, 5.0)).TTL <= 0
    assert (await etcd_client.renew_lease(leases[1].id, 5.0)).TTL > 0


async def test_a_stream_broken_by_an_etcd_restart_is_replaced(etcd_client: EtcdClient, etcd: EmbeddedEtcd) -> None:
    lease = await etcd_client.lease(60)
    assert (await etcd_client.renew_lease(lease.id, 5.0)).TTL > 0
    await etcd.restart()

    async def renewed() -> bool:
        try:
            return bool((await etcd_client.renew_lease(lease.id, 2.0)).TTL > 0)
        except (aetcd.ClientError, TimeoutError):
            return False  # the old stream's end, or etcd still starting
    await wait_for(renewed, timeout=20, interval=0.2, message="a renewal on a new stream after the restart")


async def test_an_unanswered_renewal_times_out(etcd_client: EtcdClient, etcd: EmbeddedEtcd) -> None:
    lease = await etcd_client.lease(60)
    assert (await etcd_client.renew_lease(lease.id, 5.0)).TTL > 0
    assert etcd.pid is not None
    os.kill(etcd.pid, signal.SIGSTOP)  # frozen: the connection stays open, nothing is answered
    try:
        await wait_for(lambda: _all_threads_stopped(etcd.pid), message="every etcd thread stopped")
        with pytest.raises(TimeoutError):
            await etcd_client.renew_lease(lease.id, 0.5)
    finally:
        os.kill(etcd.pid, signal.SIGCONT)
    await wait_for(lambda: _renews(etcd_client, lease.id), timeout=20, interval=0.2,
                   message="renewals again once etcd answers")


async def _renews(client: EtcdClient, lease_id: int) -> bool:
    try:
        return bool((await client.renew_lease(lease_id, 2.0)).TTL > 0)
    except (aetcd.ClientError, TimeoutError):
        return False


def _all_threads_stopped(pid: int) -> bool:
    """SIGSTOP stops a process's threads one by one: a thread still running may answer meanwhile."""
    tasks = os.listdir(f"/proc/{pid}/task")
    return all(open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0] == "T" for tid in tasks)
