"""The workqueue and the reconcile loop: de-duplication, exclusivity, back-off."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.client.reconcile import ReconcileLoop, Result, TerminalError
from kubelite.client.workqueue import RateLimiter, ShutDown, WorkQueue
from tests.helpers import wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_per_key_up_to_the_cap_and_forget_resets() -> None:
    limiter = RateLimiter(base_delay=0.005, max_delay=1.0, qps=1e9, burst=10**9, clock=FakeClock())
    delays = [limiter.when("a") for _ in range(12)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1.0 and max(delays) == 1.0
    assert limiter.when("b") == 0.005  # per key
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0 and limiter.when("a") == 0.005


def test_token_bucket_limits_overall_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(base_delay=0.0, max_delay=0.0, qps=10, burst=2, clock=clock)
    assert [limiter.when(f"k{i}") for i in range(2)] == [0.0, 0.0]
    assert limiter.when("k2") == pytest.approx(0.1)
    clock.now += 10
    assert limiter.when("k3") == 0.0


@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=50))
def test_a_key_is_queued_once_however_often_added(keys: list[str]) -> None:
    async def run() -> list[str]:
        queue = WorkQueue()
        for key in keys:
            queue.add(key)
        got = []
        while len(queue):
            got.append(await queue.get())
        return got

    got = asyncio.run(run())
    assert sorted(got) == sorted(set(keys))
    assert got == list(dict.fromkeys(keys))  # first-added order


async def test_key_added_while_processing_is_requeued_after_done_not_before() -> None:
    queue = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0  # not handed out while "a" is being processed
    queue.done(key)
    assert len(queue) == 1 and await queue.get() == "a"


async def test_workers_never_process_the_same_key_concurrently() -> None:
    queue = WorkQueue()
    running: set[str] = set()
    overlaps: list[str] = []
    done: list[str] = []

    async def reconcile(key: str) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        await asyncio.sleep(random.random() / 500)
        running.discard(key)
        done.append(key)

    loop = ReconcileLoop("test", queue, reconcile, workers=8)
    await loop.start()
    try:
        for round_ in range(200):
            queue.add(f"k{round_ % 5}")
            if round_ % 7 == 0:
                await asyncio.sleep(0)
        await wait_for(lambda: len(queue) == 0 and not running, message="queue drained")
    finally:
        await loop.stop()
    assert not overlaps
    assert set(done) == {f"k{i}" for i in range(5)}


async def test_failures_are_retried_with_backoff_and_success_forgets() -> None:
    queue = WorkQueue(rate_limiter=RateLimiter(base_delay=0.001, max_delay=0.01))
    attempts: list[str] = []

    async def reconcile(key: str) -> None:
        attempts.append(key)
        if len(attempts) < 4:
            raise RuntimeError("transient")

    loop = ReconcileLoop("test", queue, reconcile, workers=1)
    await loop.start()
    try:
        queue.add("x")
        await wait_for(lambda: len(attempts) == 4, message="four attempts")
        await wait_for(lambda: queue.rate_limiter.num_requeues("x") == 0, message="forgotten after success")
    finally:
        await loop.stop()
    assert loop.errors == 3


async def test_terminal_errors_are_not_retried_and_requeue_after_is_honoured() -> None:
    queue = WorkQueue()
    calls: list[str] = []

    async def reconcile(key: str) -> Result | None:
        calls.append(key)
        if key == "bad":
            raise TerminalError("cannot ever work")
        return Result(requeue_after=0.01) if calls.count(key) < 3 else None

    loop = ReconcileLoop("test", queue, reconcile, workers=2)
    await loop.process("bad")
    assert queue.rate_limiter.num_requeues("bad") == 0 and len(queue) == 0
    await loop.start()
    try:
        queue.add("good")
        await wait_for(lambda: calls.count("good") == 3, message="requeued twice")
    finally:
        await loop.stop()


async def test_shutdown_releases_waiting_workers() -> None:
    queue = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiter, 1)
