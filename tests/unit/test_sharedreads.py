"""Admission's shared reads: one read for a burst of callers, kept a moment, never kept across a
forget, errors and cancels handled per caller (kubelite.storage.sharedreads)."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.storage.sharedreads import SharedReads

pytestmark = pytest.mark.timeout(10)


class Reader:
    """A read that waits for ``release`` (so callers can pile up) and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.fail: BaseException | None = None

    async def __call__(self) -> list[int]:
        self.calls += 1
        call = self.calls
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [call]


async def settle() -> None:
    for _ in range(5):  # let every task started so far reach its first await
        await asyncio.sleep(0)


async def test_callers_that_miss_together_share_one_read_and_it_is_kept() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    burst = [asyncio.create_task(reads.get("ns", reader)) for _ in range(50)]
    await settle()
    reader.release.set()
    assert await asyncio.gather(*burst) == [[1]] * 50
    assert reader.calls == 1
    assert await reads.get("ns", reader) == [1] and reader.calls == 1  # kept
    assert await reads.get("other", reader) == [2]  # per key


async def test_an_expired_value_is_read_again() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(0.0)
    reader = Reader()
    reader.release.set()
    assert await reads.get("ns", reader) == [1]
    assert await reads.get("ns", reader) == [2]


async def test_fresh_reads_anew_even_while_a_read_is_in_flight() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    first = asyncio.create_task(reads.get("ns", reader))
    await settle()
    fresh = asyncio.create_task(reads.get("ns", reader, fresh=True))
    await settle()
    reader.release.set()
    assert (await first, await fresh) == ([1], [2])
    assert await reads.get("ns", reader, fresh=True) == [3]


async def test_after_forget_a_read_in_flight_is_not_kept_and_later_callers_read_again() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    before = asyncio.create_task(reads.get("ns", reader))
    await settle()
    reads.forget("ns")  # a write went through: the read in flight may predate it
    after = asyncio.create_task(reads.get("ns", reader))
    await settle()
    reader.release.set()
    assert (await before, await after) == ([1], [2])
    assert reader.calls == 2
    assert await reads.get("ns", reader) == [2]  # what the read started after the forget gave


async def test_a_failed_read_is_every_waiters_error_and_nothing_is_kept() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    reader.fail = OSError("etcd timed out")
    burst = [asyncio.create_task(reads.get("ns", reader)) for _ in range(3)]
    await settle()
    reader.release.set()
    outcomes = await asyncio.gather(*burst, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["etcd timed out"] * 3 and reader.calls == 1
    reader.fail = None
    assert await reads.get("ns", reader) == [2]


async def test_when_the_reading_caller_is_cancelled_a_waiter_reads_instead() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    leader = asyncio.create_task(reads.get("ns", reader))
    await settle()
    waiter = asyncio.create_task(reads.get("ns", reader))
    await settle()
    leader.cancel()
    await settle()
    reader.release.set()
    assert await waiter == [2]
    assert leader.cancelled() and reader.calls == 2


async def test_a_cancelled_waiter_leaves_the_read_to_the_others() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    leader = asyncio.create_task(reads.get("ns", reader))
    await settle()
    quitter = asyncio.create_task(reads.get("ns", reader))
    stayer = asyncio.create_task(reads.get("ns", reader))
    await settle()
    quitter.cancel()
    await settle()
    reader.release.set()
    assert (await leader, await stayer) == ([1], [1])
    assert quitter.cancelled() and reader.calls == 1


async def test_replace_changes_the_kept_value_and_nothing_when_none_is_kept() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    reader.release.set()
    reads.replace("ns", lambda value: [*value, 99])
    assert await reads.get("ns", reader) == [1]
    reads.replace("ns", lambda value: [*value, 99])
    assert await reads.get("ns", reader) == [1, 99] and reader.calls == 1


async def test_forgetting_one_key_does_not_drop_another_keys_read() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    reader = Reader()
    limitranges = asyncio.create_task(reads.get("limitranges", reader))
    await settle()
    reads.forget("pods")  # a write of another kind while the read is in flight
    reader.release.set()
    assert await limitranges == [1]
    assert await reads.get("limitranges", reader) == [1] and reader.calls == 1  # kept all the same


async def test_an_older_read_finishing_last_does_not_replace_a_newer_one() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(60.0)
    slow, quick = Reader(), Reader()
    quick.calls = 10  # its reads give [11], [12]…; the slow one's [1]
    older = asyncio.create_task(reads.get("ns", slow))
    await settle()
    quick.release.set()
    assert await reads.get("ns", quick, fresh=True) == [11]  # a conflict's fresh read, done first
    slow.release.set()
    assert await older == [1]
    assert await reads.get("ns", quick) == [11] and quick.calls == 11  # the fresh read is what is kept


async def test_after_replace_later_callers_do_not_join_a_read_from_before_the_write() -> None:
    reads: SharedReads[str, list[int]] = SharedReads(0.0)  # kept values always expired
    reader = Reader()
    before = asyncio.create_task(reads.get("ns", reader))  # started before the write
    await settle()
    reads.replace("ns", lambda value: [*value, 99])  # this process's write
    after = asyncio.create_task(reads.get("ns", reader))
    await settle()
    reader.release.set()
    assert (await before, await after) == ([1], [2])
