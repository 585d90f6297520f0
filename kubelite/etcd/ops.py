"""Raw etcd requests the store needs beyond aetcd's helpers.

aetcd's ``transaction`` hides response headers and its ``get_prefix`` has no
limit or revision (ENVIRONMENT.md, pitfall 5), so the store builds protobuf
requests itself. Every call carries the client's deadline, and gRPC errors
become :class:`EtcdUnavailable` with what was being done.
"""

from __future__ import annotations

import time

from typing import Any

from aetcd import rpc, utils

from kubelite.api import errors
from kubelite.etcd.client import EtcdClient
from kubelite.etcd.txnbatch import TxnBatcher


class EtcdUnavailable(errors.ApiError):
    """etcd did not answer in time or refused the connection (503); re-read before retrying a write."""

    def __init__(self, message: str) -> None:
        super().__init__(errors.unavailable(message).status)


class EtcdSpaceExceeded(errors.ApiError):
    """etcd's backend reached ``--quota-backend-bytes`` and raised its NOSPACE alarm: it refuses writes.

    kube-apiserver answers 500 InternalError here (not 503: retrying cannot help
    until an operator compacts, defragments and disarms the alarm), with etcd's
    own text; the message adds what to do (docs/operations.md, "etcd is full").
    """

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(errors.internal(  # errors.internal adds kube's "Internal error occurred: "
            f"{detail} ({what}: etcd is full and refuses writes until an operator "
            "compacts, defragments and disarms its NOSPACE alarm)").status)


class EtcdPermissionDenied(errors.ApiError):
    """etcd's auth refused the request to this process's etcd user (403): e.g. a node's agent, whose
    etcd role reads ``/registry/`` and writes only its node Lease (kubelite.etcd.auth_plan), writing
    anything else. Not retried: the same request stays refused."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(errors.forbidden(f"{what}: etcd refused it to this process's etcd user: {detail}").status)


class EtcdCompacted(Exception):
    """The requested revision is older than etcd's compaction point."""

    def __init__(self, revision: int, detail: str) -> None:
        super().__init__(detail)
        self.revision = revision


def _b(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def prefix_end(prefix: str | bytes) -> bytes:
    return bytes(utils.prefix_range_end(_b(prefix)))


def cmp_version(key: str, op: str, value: int) -> Any:
    return _compare(key, rpc.Compare.VERSION, op, version=value)


def cmp_mod(key: str, op: str, value: int) -> Any:
    return _compare(key, rpc.Compare.MOD, op, mod_revision=value)


def cmp_create(key: str, op: str, value: int) -> Any:
    return _compare(key, rpc.Compare.CREATE, op, create_revision=value)


def cmp_lease(key: str, op: str, value: int) -> Any:
    return _compare(key, rpc.Compare.LEASE, op, lease=value)


_OPS = {"==": rpc.Compare.EQUAL, "!=": rpc.Compare.NOT_EQUAL, "<": rpc.Compare.LESS, ">": rpc.Compare.GREATER}


def _compare(key: str, target: Any, op: str, **value: int) -> Any:
    return rpc.Compare(key=_b(key), target=target, result=_OPS[op], **value)


def op_put(key: str, value: bytes, lease: int = 0, *, keep_lease: bool = False) -> Any:
    """``keep_lease`` keeps the key on its current lease (events, node leases stay on theirs)."""
    request = rpc.PutRequest(key=_b(key), value=value, lease=lease, ignore_lease=keep_lease)
    return rpc.RequestOp(request_put=request)


def op_delete_range(key: str, range_end: bytes) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=_b(key), range_end=range_end))


def op_get(key: str, range_end: bytes | None = None) -> Any:
    """A range op of one key, or of ``[key, range_end)``."""
    request = rpc.RangeRequest(key=_b(key))
    if range_end is not None:
        request.range_end = range_end
    return rpc.RequestOp(request_range=request)


def op_delete(key: str) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=_b(key), prev_kv=True))


def _observe(client: EtcdClient, what: str, started: float) -> None:
    """Tell the client's request observer (a process's etcd latency histogram) how long one call took.
    Timed with ``time.perf_counter`` rather than kubelite.util.clock: a latency histogram wants the finest
    interval clock (prometheus_client times with it), and a fake clock would freeze latencies, not steer them."""
    observer = getattr(client, "request_observer", None)
    if observer is not None:
        observer(what, time.perf_counter() - started)


async def txn(client: EtcdClient, compare: list[Any], success: list[Any], failure: list[Any], *, what: str,
              timeout: float | None = None) -> Any:
    """One etcd transaction; returns the raw TxnResponse (``succeeded``, ``header``, ``responses``).
    ``timeout``: the call's deadline in seconds (default the client's). With the default deadline
    it goes through the client's :class:`TxnBatcher` (group commit: sent with the process's other
    txns of the moment as one etcd txn, with the same outcome as alone)."""
    await _connected(client, what)
    request = rpc.TxnRequest(compare=compare, success=success, failure=failure)
    started = time.perf_counter()
    try:
        if timeout is None and client.batch_txns:
            response = await _batcher(client).txn(request)
        else:
            response = await client.kvstub.Txn(request, timeout=client.config.timeout if timeout is None else timeout,
                                               metadata=client.metadata)
    except rpc.AioRpcError as exc:
        if timeout is not None or not client.batch_txns:
            await _report(client, exc)
        raise _error(exc, what) from exc
    finally:
        _observe(client, what, started)
    client.report_success()
    return response


def _batcher(client: EtcdClient) -> TxnBatcher:
    batcher: TxnBatcher | None = getattr(client, "txn_batcher", None)
    if batcher is None:
        def call(request: Any) -> Any:
            return client.kvstub.Txn(request, timeout=client.config.timeout, metadata=client.metadata)

        batcher = client.txn_batcher = TxnBatcher(call, lambda exc: _report(client, exc),
                                                  deadline=lambda: client.config.timeout)
    return batcher


async def compact(client: EtcdClient, revision: int, *, what: str) -> None:
    """Compact etcd's history up to ``revision`` (not physical: etcd finishes in the background).

    Raises :class:`EtcdCompacted` when etcd already compacted at or past it.
    """
    await _connected(client, what)
    request = rpc.CompactionRequest(revision=revision, physical=False)
    try:
        await client.kvstub.Compact(request, timeout=client.config.timeout, metadata=client.metadata)
    except rpc.AioRpcError as exc:
        if exc.code() == rpc.StatusCode.OUT_OF_RANGE:
            raise EtcdCompacted(revision, exc.details() or "revision compacted") from exc
        raise await _unavailable(client, exc, what) from exc
    client.report_success()


async def range_(
    client: EtcdClient, key: str | bytes, *, range_end: bytes | None = None, limit: int = 0, revision: int = 0,
    count_only: bool = False, what: str,
) -> Any:
    """A Range request; returns the raw RangeResponse (``kvs``, ``more``, ``count``, ``header``)."""
    await _connected(client, what)
    request = rpc.RangeRequest(key=_b(key), limit=limit, revision=revision, count_only=count_only)
    if range_end is not None:
        request.range_end = range_end
    started = time.perf_counter()
    try:
        response = await client.kvstub.Range(request, timeout=client.config.timeout, metadata=client.metadata)
    except rpc.AioRpcError as exc:
        if exc.code() == rpc.StatusCode.OUT_OF_RANGE:
            raise EtcdCompacted(revision, exc.details() or "revision compacted") from exc
        raise await _unavailable(client, exc, what) from exc
    finally:
        _observe(client, what, started)
    client.report_success()
    return response


async def _connected(client: EtcdClient, what: str) -> None:
    try:
        await client.connect()
    except Exception as exc:  # aetcd wraps every connection problem differently
        raise EtcdUnavailable(f"{what}: cannot connect to etcd {client.config.endpoints}: {exc}") from exc


_FAILOVER_CODES = (rpc.StatusCode.DEADLINE_EXCEEDED, rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.CANCELLED)


async def _unavailable(client: EtcdClient, exc: rpc.AioRpcError, what: str) -> errors.ApiError:
    await _report(client, exc)
    return _error(exc, what)


async def _report(client: EtcdClient, exc: rpc.AioRpcError) -> None:
    """A failed call counts toward failing over to the next endpoint when etcd did not answer."""
    if exc.code() in _FAILOVER_CODES:
        await client.report_unavailable()


def _error(exc: rpc.AioRpcError, what: str) -> errors.ApiError:
    if exc.code() == rpc.StatusCode.RESOURCE_EXHAUSTED and "space exceeded" in (exc.details() or ""):
        return EtcdSpaceExceeded(what, exc.details() or "")
    if exc.code() == rpc.StatusCode.PERMISSION_DENIED:
        return EtcdPermissionDenied(what, exc.details() or "permission denied")
    return EtcdUnavailable(f"{what}: etcd {exc.code().name}: {exc.details()}")