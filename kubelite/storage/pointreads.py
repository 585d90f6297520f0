"""Point reads coalesced into one etcd transaction per event-loop turn.

A GET of one object costs a gRPC round trip whose client-side CPU (the grpc.aio call and its
poller thread) is most of the gateway's work for that request. Reads that arrive together —
the handlers of all the requests one ``epoll`` wake-up delivered — go to etcd as one read-only
``Txn`` of ``Range`` operations (at most etcd's default ``--max-txn-ops``, 128), one round trip
for all of them.

Still linearizable: a batch is sent after every read in it was asked for, and etcd serves a
read-only txn at one revision with the same quorum guarantee as a plain Range. A read alone in
its turn is a plain Range, so a quiet process pays nothing.

A batch's txn is never cancelled by a deadline while etcd may be executing it: etcd 3.5.0–3.5.4
**panics and exits** when a read-only txn's context is cancelled during its apply
(etcd-io/etcd#14110, fixed in 3.5.5 by #14178), and the embedded etcd is 3.5.1 — a loaded
machine made every 5 s deadline a crash (bench/bench_scale.py, 10,000 pods). So the txn gets a
long deadline (:data:`BATCH_DEADLINE`), and each reader gives up on its own after the client's
timeout (503, as a Range that timed out), leaving the txn to finish.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aetcd import rpc

from kubelite.etcd.client import EtcdClient
from kubelite.etcd.ops import EtcdUnavailable, range_, txn

MAX_BATCH = 128  # etcd's default --max-txn-ops
BATCH_DEADLINE = 120.0  # seconds: only a hung etcd takes this long; readers time out on their own first


class PointReads:
    """``await reads.get(key)`` → the key's ``KeyValue`` (``value``, ``mod_revision``…) or None.

    Raises what :func:`kubelite.etcd.ops.range_` raises (``EtcdUnavailable``…), to every read
    of the failed batch.
    """

    def __init__(self, client: EtcdClient) -> None:
        self.client = client
        self._pending: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # after the other handlers woken with this one asked too
        self._pending.append((key.encode(), future))
        return await future

    def _expire(self, batch: list[tuple[bytes, asyncio.Future[Any]]]) -> None:
        """The client's timeout passed with the batch's txn still running: its readers get the 503 a
        timed-out Range gives (and the client counts it towards failing over); the txn runs on."""
        timeout = self.client.config.timeout
        for key, future in batch:
            if not future.done():
                future.set_exception(EtcdUnavailable(
                    f"get {key.decode()}: etcd DEADLINE_EXCEEDED: no answer in {timeout:g} s"))
        task = asyncio.create_task(self.client.report_unavailable(), name="etcd point reads: report")
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            task = asyncio.create_task(self._read(batch), name="etcd point reads")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _read(self, batch: list[tuple[bytes, asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                key = batch[0][0]
                found = [(await range_(self.client, key, what=f"get {key.decode()}")).kvs]
            else:
                ops = [rpc.RequestOp(request_range=rpc.RangeRequest(key=key)) for key, _ in batch]
                expiry = asyncio.get_running_loop().call_later(self.client.config.timeout, self._expire, batch)
                try:
                    response = await txn(self.client, [], ops, [], what=f"get {len(batch)} keys",
                                         timeout=BATCH_DEADLINE)
                finally:
                    expiry.cancel()
                found = [op.response_range.kvs for op in response.responses]
        except BaseException as exc:  # every reader learns why, cancellation included
            for _key, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for (_key, future), kvs in zip(batch, found, strict=True):
            if not future.done():  # its reader may have gone (client disconnected)
                future.set_result(kvs[0] if kvs else None)
