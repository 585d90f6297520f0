"""Group commit: the txns a process sends while one of its txns is under way go to etcd as ONE txn.

Every write of the store is one etcd txn, and a txn costs about 0.3 ms of the caller's CPU and a
request's work in etcd whatever it carries (issue 12: a 1,000-pod scale-up sent four txns per pod,
one round trip each). So a client keeps at most MAX_IN_FLIGHT txns in flight; the txns that
arrive meanwhile wait, and are sent together as one outer txn whose operations are the waiting
txns themselves (etcd's nested ``RequestOp.request_txn``, since etcd 3.3). Each inner txn keeps
its own compares and branches, so each caller gets its own ``succeeded`` and responses, exactly as
if it had been sent alone, and the header of the outer txn (one revision for all of them).

What keeps this the same as sending each alone:

- etcd evaluates every compare of a txn, nested ones included, against the store as it was before
  the txn (``compareToPath`` before any op is applied), and applies the ops in order. So a txn that
  writes a key joins a batch only if no other txn in the batch reads, compares or writes that key,
  and a txn that reads or compares a key joins only if none writes it. Then no inner txn can see
  (or miss) another's effect, every order of them gives the same result, and etcd's "duplicate key
  given in txn request" never happens.
- A txn with a range (a prefix compare or read), a delete (its answer carries the object), or a
  deadline of its own is sent alone, and so is a read-only txn (etcd answers it with a read index,
  without a raft entry; in a batch it would cost one and wait for the batch's writes).
- A batch is at most MAX_BATCH txns and MAX_BATCH_BYTES (``--max-request-bytes`` is 1.5 MiB); a
  nested txn gets only the ops its parent leaves of ``--max-txn-ops`` (128), so the batch's length
  plus its longest inner list stays within it; at most MAX_BATCH_READS range ops, so the answer
  stays under gRPC's 64 MiB receive limit.
- The batch is atomic: all of its writes are acknowledged together, or none is. A batch etcd
  refuses before applying anything (one txn's lease is gone, a permission, a limit below the
  defaults: ``refused_before_apply``) is sent again txn by txn, so each gets its own answer; any
  other error (unavailable, deadline, an answer over the client's limit, which may come after
  etcd applied the batch) is every caller's error, as a timeout would have been, and counts once
  toward failover.
- etcd 3.5 counts no nested put against its space quota and NOSPACE alarm: after "database space
  exceeded" every txn goes alone until a write succeeds.
- etcd before 3.5.28 checks no permission inside a nested txn: a client whose etcd role is narrow
  (a node's agent) sets ``batch_txns = False`` and never nests.
- A caller cancelled while waiting is taken out; one cancelled while its batch is in flight only
  stops waiting (its write may land, as a cancelled single call's may). The client's deadline
  covers the wait and the call together: past it a caller gets DEADLINE_EXCEEDED, as alone.

A caller with nothing in flight before it is sent at once: batching adds no wait when idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aetcd import rpc
from grpc.aio import Metadata

MAX_IN_FLIGHT = 1
MAX_BATCH = 64
MAX_BATCH_BYTES = 1 << 20
MAX_TXN_OPS = 128  # etcd's default --max-txn-ops; a nested txn may have only what its parent's ops leave
MAX_BATCH_READS = 32  # range ops (a failed create reads the object back): 32 x 1.5 MB stays under gRPC's 64 MiB
# what etcd refuses before applying anything, for the batch as a whole (one of its txns; a limit): then each
# txn is sent alone, with the answer it would have had. Anything else (a client-side limit on the answer, a
# deadline) may come after the batch was applied: every caller gets the error, as a timeout.
_REFUSED_BEFORE_APPLY = (
    (rpc.StatusCode.INVALID_ARGUMENT, "too many operations in txn request"),
    (rpc.StatusCode.INVALID_ARGUMENT, "duplicate key given in txn request"),
    (rpc.StatusCode.INVALID_ARGUMENT, "request is too large"),
    (rpc.StatusCode.INVALID_ARGUMENT, "key not found"),  # ignore_lease on a missing key
    (rpc.StatusCode.NOT_FOUND, "requested lease not found"),
    (rpc.StatusCode.PERMISSION_DENIED, ""),
)


def refused_before_apply(exc: rpc.AioRpcError) -> bool:
    details = exc.details() or ""
    return any(exc.code() == code and text in details for code, text in _REFUSED_BEFORE_APPLY)


@dataclass
class _Waiting:
    request: Any  # rpc.TxnRequest
    reads: frozenset[bytes]
    writes: frozenset[bytes]
    size: int
    future: asyncio.Future[Any]
    ops: int = 1  # its longest list (compares, success, failure): what etcd counts against --max-txn-ops
    range_ops: int = 0


@dataclass
class _Batch:
    entries: list[_Waiting] = field(default_factory=list)
    reads: set[bytes] = field(default_factory=set)
    writes: set[bytes] = field(default_factory=set)
    size: int = 0
    ops: int = 0
    range_ops: int = 0

    def admits(self, entry: _Waiting) -> bool:
        if not self.entries:
            return True  # a txn over MAX_BATCH_BYTES by itself goes alone (etcd judges its size)
        # etcd gives a nested txn the ops its parent leaves (checkTxnRequest: maxTxnOps - len(parent))
        return (len(self.entries) < MAX_BATCH and self.size + entry.size <= MAX_BATCH_BYTES
                and len(self.entries) + 1 + max(self.ops, entry.ops) <= MAX_TXN_OPS
                and self.range_ops + entry.range_ops <= MAX_BATCH_READS and not self.conflicts(entry))

    def conflicts(self, entry: _Waiting) -> bool:
        """Whether ``entry`` writes a key these read or write, or reads a key these write."""
        return not (self.writes.isdisjoint(entry.reads) and self.writes.isdisjoint(entry.writes)
                    and self.reads.isdisjoint(entry.writes))

    def add(self, entry: _Waiting) -> None:
        self.entries.append(entry)
        self.reads |= entry.reads
        self.writes |= entry.writes
        self.size += entry.size
        self.ops = max(self.ops, entry.ops)
        self.range_ops += entry.range_ops


def next_batch(waiting: list[_Waiting]) -> tuple[list[_Waiting], list[_Waiting]]:
    """(the txns to send together now, the ones left waiting), from the waiting ones in arrival order:
    each joins unless it conflicts with the batch (a key one writes, another touches) or with one
    left for later (so a key's txns go in arrival order), within the bounds of :meth:`_Batch.admits`."""
    batch, held, later = _Batch(), _Batch(), []
    for entry in waiting:
        if batch.admits(entry) and not held.conflicts(entry):
            batch.add(entry)
        else:
            later.append(entry)
            held.add(entry)
    return batch.entries, later


def keys_of(request: Any) -> tuple[frozenset[bytes], frozenset[bytes]] | None:
    """(keys compared or read, keys written) of a TxnRequest, or None when it touches a range, nests
    a txn or writes nothing: such a txn is sent alone."""
    reads: set[bytes] = set()
    writes: set[bytes] = set()
    for compare in request.compare:
        if compare.range_end:
            return None
        reads.add(compare.key)
    for op in (*request.success, *request.failure):
        kind = op.WhichOneof("request")
        if kind == "request_put":
            writes.add(op.request_put.key)
        elif kind == "request_range":
            if op.request_range.range_end:
                return None
            reads.add(op.request_range.key)
        elif kind == "request_delete_range":
            return None  # a delete answers with the object (prev_kv): 64 of them could pass gRPC's answer limit
        else:
            return None
    if not writes:
        return None  # read-only: etcd serves it without a raft entry, which joining a write would cost it
    return frozenset(reads), frozenset(writes)


class TxnBatcher:
    """One etcd client's txns: sent alone while fewer than MAX_IN_FLIGHT are in flight, else batched.

    ``call(request)`` sends one TxnRequest and returns its TxnResponse (gRPC errors raised);
    ``failed(exc)`` is told once per failed call (the client's failover count)."""

    def __init__(self, call: Callable[[Any], Any], failed: Callable[[rpc.AioRpcError], Any], *,
                 deadline: Callable[[], float]) -> None:
        self._call = call
        self._failed = failed
        self._deadline = deadline
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # after "database space exceeded", alone until a write succeeds: etcd 3.5 counts no nested put
        # against its quota and its NOSPACE alarm (costTxn), so a batch would get past the alarm
        self._alone_until_written = False
        self.batches = 0  # outer txns sent for two or more callers (tests, benchmarks)

    async def txn(self, request: Any) -> Any:
        """Send ``request`` (a TxnRequest) and return its TxnResponse; gRPC errors are raised."""
        keys = keys_of(request)
        if keys is None or self._alone_until_written or (self._in_flight < MAX_IN_FLIGHT and not self._waiting):
            return await self._alone(request)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ops = max(len(request.compare), len(request.success), len(request.failure))
        range_ops = sum(1 for op in (*request.success, *request.failure) if op.WhichOneof("request") == "request_range")
        self._waiting.append(_Waiting(request, keys[0], keys[1], request.ByteSize(), future, ops, range_ops))
        self._send_waiting()
        try:
            # the client's deadline covers the wait too: behind a call to a frozen member, a caller
            # gives up when it would have alone, not a deadline later
            async with asyncio.timeout(self._deadline()):
                return await future
        except TimeoutError:
            if future.done() and not future.cancelled():
                return future.result()  # the answer came in the same turn as the deadline: it stands
            future.cancel()
            raise rpc.AioRpcError(rpc.StatusCode.DEADLINE_EXCEEDED, Metadata(), Metadata(),
                                  "Deadline Exceeded (waiting to be sent, or in a batch)") from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning
            future.cancel()  # still waiting: left out of the next batch
            raise

    async def _alone(self, request: Any) -> Any:
        self._in_flight += 1
        try:
            return await self._reported(request)
        finally:
            self._in_flight -= 1
            self._send_waiting()

    async def _reported(self, request: Any) -> Any:
        try:
            response = await self._call(request)
        except rpc.AioRpcError as exc:
            if "space exceeded" in (exc.details() or ""):
                self._alone_until_written = True
            await self._failed(exc)
            raise
        if self._alone_until_written and response.succeeded and _writes(request.success):
            self._alone_until_written = False
        return response

    def _send_waiting(self) -> None:
        while self._in_flight < MAX_IN_FLIGHT and self._waiting:
            batch, self._waiting = next_batch([e for e in self._waiting if not e.future.done()])  # (done: cancelled)
            if not batch:
                return
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._sent)  # (also when cancelled before its first step)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        if not task.cancelled():
            self._send_waiting()

    async def _send(self, entries: list[_Waiting]) -> None:
        entries = [e for e in entries if not e.future.done()]  # (a caller gone since the batch was formed)
        try:
            if not entries:
                return
            if len(entries) == 1:
                await _settle(entries[0].future, self._reported(entries[0].request))
                return
            outer = rpc.TxnRequest(success=[rpc.RequestOp(request_txn=e.request) for e in entries])
            try:
                response = await self._call(outer)
            except rpc.AioRpcError as exc:
                if refused_before_apply(exc):
                    # one txn's problem (a lease gone, a permission) or a limit below etcd's defaults:
                    # each on its own, with the answer it would have had; not those whose callers left
                    await asyncio.gather(*(_settle(e.future, self._reported(e.request))
                                           for e in entries if not e.future.done()))
                    return
                if "space exceeded" in (exc.details() or ""):
                    self._alone_until_written = True
                await self._failed(exc)
                for entry in entries:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
                return
            self.batches += 1
            for entry, op in zip(entries, response.responses, strict=True):
                inner = op.response_txn
                if not entry.future.done():
                    entry.future.set_result(rpc.TxnResponse(header=response.header, succeeded=inner.succeeded,
                                                            responses=inner.responses))
        except BaseException as exc:  # noqa: BLE001 - every waiter hears of it; nothing waits on this task
            for entry in entries:
                if not entry.future.done():
                    entry.future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise


def _writes(ops: Any) -> bool:
    return any(op.WhichOneof("request") in ("request_put", "request_delete_range") for op in ops)


async def _settle(future: asyncio.Future[Any], call: Any) -> None:
    """``future`` gets the result or the error of ``call`` (an awaitable)."""
    try:
        result = await call
    except Exception as exc:  # noqa: BLE001 - handed to the waiter
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(result)
