"""The txn batcher's decisions (kubelite/etcd/txnbatch.py), against a fake etcd call.

What is sent together and what alone; each caller gets its own inner outcome and the outer
header; a batch etcd refuses as a whole is sent again txn by txn; other errors reach every caller
and count once; a caller cancelled while waiting is left out. tests/integration/test_txn_batch.py
runs the same against a real etcd.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from aetcd import rpc
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.etcd import txnbatch
from kubelite.etcd.ops import cmp_mod, cmp_version, op_get, op_put


def _txn(compare: list[Any], success: list[Any], failure: list[Any] | None = None) -> Any:
    return rpc.TxnRequest(compare=compare, success=success, failure=failure or [])


def _put(key: str) -> Any:
    return _txn([cmp_version(key, "==", 0)], [op_put(key, b"v")])


class FakeEtcd:
    """Answers every inner txn as succeeded unless its first compare's key is in ``failing``; holds
    calls while ``gate`` is clear, so that others queue behind them."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failing: set[bytes] = set()
        self.refuse_batches: tuple[grpc.StatusCode, str] | None = None
        self.error: grpc.StatusCode | None = None
        self.revision = 100
        self.deadline = 30.0

    def _answer(self, request: Any) -> Any:
        ok = not (request.compare and request.compare[0].key in self.failing)
        return rpc.TxnResponse(succeeded=ok, responses=[rpc.ResponseOp(response_put=rpc.PutResponse())])

    async def call(self, request: Any) -> Any:
        self.sent.append(request)
        await self.gate.wait()
        nested = [op.request_txn for op in request.success if op.WhichOneof("request") == "request_txn"]
        if self.error is not None:
            raise grpc.aio.AioRpcError(self.error, grpc.aio.Metadata(), grpc.aio.Metadata(), "boom")
        if nested and self.refuse_batches is not None:
            code, details = self.refuse_batches
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)
        self.revision += 1
        header = rpc.ResponseHeader(revision=self.revision)
        if not nested:
            answer = self._answer(request)
            answer.header.CopyFrom(header)
            return answer
        return rpc.TxnResponse(header=header, succeeded=True,
                               responses=[rpc.ResponseOp(response_txn=self._answer(n)) for n in nested])


def _batcher(etcd: FakeEtcd) -> tuple[txnbatch.TxnBatcher, list[Any]]:
    failures: list[Any] = []

    async def failed(exc: Any) -> None:
        failures.append(exc.code())

    return txnbatch.TxnBatcher(etcd.call, failed, deadline=lambda: etcd.deadline), failures


async def _queue_behind_one(etcd: FakeEtcd, batcher: txnbatch.TxnBatcher, requests: list[Any]) -> list[Any]:
    """Send a first txn that stays in flight, then ``requests``, then let everything through:
    the results of ``requests``."""
    etcd.gate.clear()
    first = asyncio.ensure_future(batcher.txn(_put("/first")))
    await asyncio.sleep(0)
    tasks = [asyncio.ensure_future(batcher.txn(r)) for r in requests]
    await asyncio.sleep(0)
    etcd.gate.set()
    await first
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_idle_client_sends_at_once_and_alone() -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    response = await batcher.txn(_put("/a"))
    assert response.succeeded and len(etcd.sent) == 1 and not etcd.sent[0].success[0].HasField("request_txn")
    assert batcher.batches == 0


async def test_txns_waiting_behind_one_in_flight_go_as_one_txn_each_with_its_own_outcome() -> None:
    etcd = FakeEtcd()
    etcd.failing = {b"/b"}
    batcher, _ = _batcher(etcd)
    results = await _queue_behind_one(etcd, batcher, [_put("/a"), _put("/b"), _put("/c")])
    assert [r.succeeded for r in results] == [True, False, True]
    assert len(etcd.sent) == 2 and [op.request_txn for op in etcd.sent[1].success] == [_put(k) for k in ("/a", "/b", "/c")]
    assert {r.header.revision for r in results} == {102}  # the outer txn's header, one revision
    assert batcher.batches == 1


@pytest.mark.parametrize(("later", "why"), [
    (_txn([cmp_version("/k", "==", 0)], [op_put("/k", b"2")]), "writes a key another in the batch writes"),
    (_txn([cmp_mod("/k", "==", 5)], [op_put("/other", b"2")]), "compares a key another writes"),
    (_txn([], [op_get("/k"), op_put("/other", b"2")]), "reads a key another writes"),
])
async def test_a_txn_touching_what_another_in_the_batch_writes_goes_in_the_next_one(later: Any, why: str) -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    writer = _txn([cmp_version("/k", "==", 0)], [op_put("/k", b"1")])
    results = await _queue_behind_one(etcd, batcher, [writer, later, _put("/z")])
    assert all(r.succeeded for r in results), why
    sent = [[op.request_txn for op in r.success] if r.success[0].HasField("request_txn") else [r] for r in etcd.sent[1:]]
    assert sent == [[writer, _put("/z")], [later]], why


async def test_a_keys_txns_go_in_arrival_order() -> None:
    """B waits for the next batch (it reads what A writes); C writes what B writes, so C waits behind
    B although it does not touch A's key."""
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    a = _txn([cmp_version("/k", "==", 0)], [op_put("/k", b"1")])
    b = _txn([cmp_mod("/k", "==", 0)], [op_put("/j", b"b")])
    c = _txn([], [op_put("/j", b"c")])
    d = _put("/free")
    await _queue_behind_one(etcd, batcher, [a, b, c, d])
    sent = [[op.request_txn for op in r.success] if r.success[0].HasField("request_txn") else [r] for r in etcd.sent[1:]]
    assert sent == [[a, d], [b], [c]]


async def test_a_key_only_compared_by_several_is_shared() -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    namespace = cmp_mod("/registry/namespaces/default", "==", 7)  # every pod create compares it
    requests = [_txn([cmp_version(f"/p{i}", "==", 0), namespace], [op_put(f"/p{i}", b"v")]) for i in range(3)]
    await _queue_behind_one(etcd, batcher, requests)
    assert len(etcd.sent) == 2 and len(etcd.sent[1].success) == 3


@pytest.mark.parametrize("ranged", [
    _txn([], [op_get("/a/", b"/a0"), op_put("/b", b"v")]),  # a range
    _txn([cmp_mod("/k", "==", 3)], [op_get("/k")], [op_get("/k")]),  # read-only: no raft entry when alone
])
async def test_a_txn_with_a_range_or_no_write_goes_alone_at_once(ranged: Any) -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    assert txnbatch.keys_of(ranged) is None
    etcd.gate.clear()
    first = asyncio.ensure_future(batcher.txn(_put("/first")))
    await asyncio.sleep(0)
    alone = asyncio.ensure_future(batcher.txn(ranged))
    await asyncio.sleep(0)
    assert etcd.sent[-1] == ranged  # sent while the other is still in flight, not queued
    etcd.gate.set()
    await asyncio.gather(first, alone)


async def test_a_batch_is_at_most_max_batch_txns() -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    results = await _queue_behind_one(etcd, batcher, [_put(f"/k{i}") for i in range(txnbatch.MAX_BATCH + 5)])
    assert all(r.succeeded for r in results)
    assert [len(r.success) for r in etcd.sent[1:]] == [txnbatch.MAX_BATCH, 5]


async def test_a_txn_larger_than_a_batch_goes_alone_and_the_bytes_bound_the_batches() -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    third = txnbatch.MAX_BATCH_BYTES // 3
    big = _txn([], [op_put("/big", b"x" * (txnbatch.MAX_BATCH_BYTES + 10))])
    requests = [big] + [_txn([], [op_put(f"/k{i}", b"x" * third)]) for i in range(4)]
    results = await asyncio.wait_for(_queue_behind_one(etcd, batcher, requests), 5)
    assert all(r.succeeded for r in results)
    sizes = [len(r.success) if r.success[0].HasField("request_txn") else 1 for r in etcd.sent[1:]]
    assert etcd.sent[1] == big and sizes == [1, 2, 2]


@pytest.mark.parametrize("refusal", [
    (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: too many operations in txn request"),  # a smaller --max-txn-ops
    (grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found"),  # one txn's lease is gone
    (grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied"),
])
async def test_a_batch_refused_before_it_applied_is_sent_again_txn_by_txn(refusal: tuple[grpc.StatusCode, str]) -> None:
    etcd = FakeEtcd()
    etcd.refuse_batches = refusal
    etcd.failing = {b"/b"}
    batcher, failures = _batcher(etcd)
    results = await _queue_behind_one(etcd, batcher, [_put("/a"), _put("/b")])
    assert [r.succeeded for r in results] == [True, False]
    assert [r for r in etcd.sent[2:]] == [_put("/a"), _put("/b")]
    assert failures == []  # etcd answered: nothing toward failover


async def test_an_error_that_may_come_after_the_batch_applied_is_every_callers_and_nothing_is_resent() -> None:
    """gRPC refuses an answer over its receive limit after etcd applied the batch: sending each txn
    again would report its own write as a conflict."""
    etcd = FakeEtcd()
    etcd.refuse_batches = (grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (70000000 vs. 67108864)")
    batcher, _ = _batcher(etcd)
    results = await _queue_behind_one(etcd, batcher, [_put("/a"), _put("/b")])
    assert all(isinstance(r, grpc.aio.AioRpcError) and r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for r in results)
    assert len(etcd.sent) == 2  # the first txn, and the batch once


async def test_after_space_exceeded_txns_go_alone_until_a_write_succeeds() -> None:
    """etcd 3.5 counts no nested put against its NOSPACE alarm: a batch would get past it."""
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    etcd.error = grpc.StatusCode.RESOURCE_EXHAUSTED
    etcd.gate.clear()
    first = asyncio.ensure_future(batcher.txn(_put("/first")))
    await asyncio.sleep(0)
    etcd.gate.set()
    with pytest.raises(grpc.aio.AioRpcError):
        await first
    assert not batcher._alone_until_written  # "boom": not the alarm
    etcd.error = None
    batcher._alone_until_written = True  # as after etcd's "mvcc: database space exceeded"
    results = await _queue_behind_one(etcd, batcher, [_put("/a"), _put("/b")])
    assert all(r.succeeded for r in results)
    assert not any(r.success[0].HasField("request_txn") for r in etcd.sent)  # every one alone
    assert not batcher._alone_until_written  # a write succeeded: batching again


async def test_a_batch_leaves_a_nested_txn_the_ops_etcd_allows_it() -> None:
    """etcd gives a nested txn --max-txn-ops minus its parent's ops: a 65-compare bind batch fits only
    in a batch of at most 63."""
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    big = _txn([cmp_version(f"/bind/{i}", "==", 0) for i in range(65)], [op_put("/bind/x", b"v")])
    requests = [_put(f"/k{i}") for i in range(70)] + [big]
    await _queue_behind_one(etcd, batcher, requests)
    for sent in etcd.sent[1:]:
        nested = [op.request_txn for op in sent.success if op.HasField("request_txn")]
        if nested:
            assert len(nested) + max(len(n.compare) for n in nested) <= txnbatch.MAX_TXN_OPS


async def test_another_error_reaches_every_caller_and_counts_once() -> None:
    etcd = FakeEtcd()
    batcher, failures = _batcher(etcd)
    etcd.gate.clear()
    first = asyncio.ensure_future(batcher.txn(_put("/first")))
    await asyncio.sleep(0)
    tasks = [asyncio.ensure_future(batcher.txn(_put(k))) for k in ("/a", "/b")]
    await asyncio.sleep(0)
    etcd.error = grpc.StatusCode.UNAVAILABLE
    etcd.gate.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert all(isinstance(r, grpc.aio.AioRpcError) and r.code() == grpc.StatusCode.UNAVAILABLE for r in results)
    assert failures == [grpc.StatusCode.UNAVAILABLE] * 2  # the first call's, and the batch's once


async def test_a_caller_cancelled_while_waiting_is_left_out() -> None:
    etcd = FakeEtcd()
    batcher, _ = _batcher(etcd)
    etcd.gate.clear()
    first = asyncio.ensure_future(batcher.txn(_put("/first")))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(batcher.txn(_put("/gone")))
    kept = asyncio.ensure_future(batcher.txn(_put("/kept")))
    await asyncio.sleep(0)
    gone.cancel()
    etcd.gate.set()
    await first
    assert (await kept).succeeded
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert etcd.sent[1:] == [_put("/kept")]


async def test_a_waiting_caller_gives_up_at_the_clients_deadline_and_is_left_out() -> None:
    """Behind a call to a frozen member, a caller fails with DEADLINE_EXCEEDED when it would have alone."""
    etcd = FakeEtcd()
    etcd.deadline = 0.2
    batcher, failures = _batcher(etcd)
    etcd.gate.clear()  # the first call hangs (its own gRPC deadline is the real call's business)
    first = asyncio.ensure_future(batcher.txn(_put("/first")))
    await asyncio.sleep(0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await batcher.txn(_put("/late"))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    etcd.gate.set()
    await first
    assert etcd.sent == [_put("/first")] and failures == []  # never sent; the first call's failure is its own


KEYS = [f"/k{i}".encode() for i in range(12)]


@st.composite
def waiting_txns(draw: st.DrawFn) -> list[txnbatch._Waiting]:
    entries = []
    for _ in range(draw(st.integers(min_value=0, max_value=40))):
        writes = frozenset(draw(st.sets(st.sampled_from(KEYS), min_size=1, max_size=2)))
        reads = frozenset(draw(st.sets(st.sampled_from(KEYS), max_size=2)))
        size = draw(st.sampled_from([10, txnbatch.MAX_BATCH_BYTES // 3, txnbatch.MAX_BATCH_BYTES + 1]))
        entries.append(txnbatch._Waiting(None, reads, writes, size, None))  # type: ignore[arg-type]  # (no caller)
    return entries


@settings(max_examples=150, deadline=None)
@given(waiting=waiting_txns())
def test_batches_never_mix_conflicting_txns_and_keep_each_keys_arrival_order(waiting: list[Any]) -> None:
    order = {id(e): i for i, e in enumerate(waiting)}
    sent: list[list[Any]] = []
    left = list(waiting)
    while left:
        batch, rest = txnbatch.next_batch(left)
        assert batch, "every round sends something"
        assert rest == [e for e in left if all(e is not b for b in batch)]  # the rest waits, in order
        sent.append(batch)
        left = rest
    assert sorted(order[id(e)] for b in sent for e in b) == list(range(len(waiting)))  # each exactly once
    for batch in sent:
        assert len(batch) <= txnbatch.MAX_BATCH
        assert len(batch) == 1 or sum(e.size for e in batch) <= txnbatch.MAX_BATCH_BYTES
        for i, one in enumerate(batch):
            for other in batch[i + 1:]:
                assert one.writes.isdisjoint(other.writes | other.reads) and other.writes.isdisjoint(one.reads)
    # per key, the txns that write it, and those that read it between such writes, keep arrival order
    position = {id(e): n for n, b in enumerate(sent) for e in b}
    for key in KEYS:
        touching = [e for e in waiting if key in e.writes or key in e.reads]
        for i, one in enumerate(touching):
            for other in touching[i + 1:]:
                if key in one.writes or key in other.writes:
                    assert position[id(one)] < position[id(other)]
