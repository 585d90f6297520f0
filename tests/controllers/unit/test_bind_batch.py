"""The scheduler's BindBatch: binding cycles of one moment share a write; what it could not bind, a
failed write and a leader's cancellation leave each cycle to bind alone.
Pure asyncio with a recording write (Store.bind_batch on real etcd: tests/integration/test_store_bind_batch.py)."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.api.core import Pod

from controllers.scheduler import MAX_BATCH, BindBatch
from tests.controllers.objects import bare_pod


class Recording:
    def __init__(self, refuse: frozenset[str] = frozenset(), error: Exception | None = None) -> None:
        self.calls: list[list[str]] = []
        self.refuse = refuse
        self.error = error
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, binds: list[tuple[Pod, str]]) -> list[str | None]:
        self.calls.append([pod.name for pod, _ in binds])
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return [None if pod.name in self.refuse else "7" for pod, _ in binds]


async def test_cycles_started_together_share_one_write_and_learn_their_own_outcome() -> None:
    recording = Recording(refuse=frozenset({"p2"}))
    batch = BindBatch(recording.write)
    names = [f"p{i}" for i in range(5)]
    outcomes = await asyncio.gather(*(batch.bind(bare_pod(name), "n1") for name in names))
    assert recording.calls == [names]
    assert outcomes == [True, True, False, True, True]


async def test_a_cycle_arriving_while_a_write_is_in_flight_leads_the_next_one() -> None:
    recording = Recording()
    recording.release.clear()
    batch = BindBatch(recording.write)
    first = asyncio.create_task(batch.bind(bare_pod("a"), "n1"))
    while not recording.calls:
        await asyncio.sleep(0)
    second = asyncio.create_task(batch.bind(bare_pod("b"), "n1"))
    while len(recording.calls) < 2:
        await asyncio.sleep(0)
    recording.release.set()
    assert await first and await second
    assert recording.calls == [["a"], ["b"]]


async def test_more_binds_than_a_txn_takes_are_split() -> None:
    recording = Recording()
    batch = BindBatch(recording.write)
    outcomes = await asyncio.gather(*(batch.bind(bare_pod(f"p{i}"), "n1") for i in range(MAX_BATCH + 3)))
    assert all(outcomes) and [len(call) for call in recording.calls] == [MAX_BATCH, 3]


async def test_after_a_failed_shared_write_each_cycle_binds_alone() -> None:
    """An etcd error (a request too large, a timeout) on the shared txn: each pod's own bind then meets
    its own answer, so one pod cannot hold the others back."""
    batch = BindBatch(Recording(error=TimeoutError("etcd")).write)
    outcomes = await asyncio.gather(*(batch.bind(bare_pod(f"p{i}"), "n1") for i in range(3)))
    assert outcomes == [False] * 3


async def test_when_the_leader_is_cancelled_the_others_bind_alone() -> None:
    recording = Recording()
    recording.release.clear()
    batch = BindBatch(recording.write)
    leader = asyncio.create_task(batch.bind(bare_pod("a"), "n1"))
    follower = asyncio.create_task(batch.bind(bare_pod("b"), "n1"))
    while not recording.calls:
        await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await follower is False  # it binds alone (Store.bind reads the pod again)
    # and a leader cancelled before it took the batch leaves nobody waiting
    recording = Recording()
    batch = BindBatch(recording.write)
    leader = asyncio.create_task(batch.bind(bare_pod("c"), "n1"))
    follower = asyncio.create_task(batch.bind(bare_pod("d"), "n1"))
    await asyncio.sleep(0)  # both have arrived; the leader is in its one turn of the loop
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await asyncio.wait_for(follower, 5) is False
    assert recording.calls == []
