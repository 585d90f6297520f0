"""Lease renewals over one long-lived LeaseKeepAlive stream per etcd client, as etcd's clientv3 does.

aetcd's ``refresh_lease`` opens a bidi stream for each renewal and closes it after the first answer.
An idle cluster renews a few leases every few seconds, and a stream's set-up costs etcd about as
much as a read (issue 12, target 7: about 2.3 ms of etcd CPU on this VM). Here every renewal of a
client goes as one message on the client's one stream; answers are matched to callers by lease id,
in order.

A stream that fails, or one that leaves a renewal unanswered past its caller's deadline, is dropped:
its waiting callers get the error, and the next renewal opens a new stream (on the client's current
channel, after a failover too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import aetcd
import grpc.aio
from aetcd import rpc

from kubelite.util.supervise import cancel_and_wait

log = logging.getLogger(__name__)


class LeaseKeepAlives:
    """``await keepalives.renew(lease_id, timeout)`` → etcd's LeaseKeepAliveResponse (``ID``, ``TTL``:
    0 or less once the lease is gone). Raises ``aetcd.ClientError`` when the stream fails and
    ``TimeoutError`` past ``timeout`` seconds."""

    def __init__(self, client: Any) -> None:
        self._client = client  # an EtcdClient: its channel, lease stub and auth metadata
        self._call: Any = None
        self._channel: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, deque[asyncio.Future[Any]]] = {}
        self._write_lock = asyncio.Lock()

    async def renew(self, lease_id: int, timeout: float) -> Any:
        call = await self._stream()
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(lease_id, deque()).append(answer)
        try:
            async with asyncio.timeout(timeout):
                async with self._write_lock:  # gRPC takes one write at a time on a stream
                    await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
                return await answer
        except TimeoutError:
            await self._drop(call, TimeoutError(f"lease {lease_id:x}: no keepalive answer in {timeout}s"))
            raise
        except (rpc.AioRpcError, asyncio.InvalidStateError) as exc:  # the stream broke, or had ended
            error = _client_error(exc)
            await self._drop(call, error)
            raise error from exc

    async def close(self) -> None:
        if self._call is not None:
            await self._drop(self._call, aetcd.ConnectionFailedError("client closed"))

    async def _stream(self) -> Any:
        await self._client.connect()
        if self._call is not None and self._channel is not self._client.channel:
            await self._drop(self._call, aetcd.ConnectionFailedError("the client moved to another endpoint"))
        if self._call is None:
            self._channel = self._client.channel
            self._call = self._client.leasestub.LeaseKeepAlive(metadata=self._client.metadata)
            self._reader = asyncio.get_running_loop().create_task(self._read(self._call), name="etcd-lease-keepalives")
        return self._call

    async def _read(self, call: Any) -> None:
        error: Exception = aetcd.ConnectionFailedError("the keepalive stream ended")
        try:
            while True:
                reply = await call.read()
                if reply is grpc.aio.EOF:
                    break
                waiting = self._waiting.get(reply.ID)
                while waiting:
                    answer = waiting.popleft()
                    if not answer.done():
                        answer.set_result(reply)
                        break
        except rpc.AioRpcError as exc:
            error = _client_error(exc)
        if self._call is call:
            self._call = None
            self._fail_waiting(error)

    async def _drop(self, call: Any, error: Exception) -> None:
        if self._call is call:
            self._call, reader, self._reader = None, self._reader, None
            call.cancel()
            if reader is not None and reader is not asyncio.current_task():
                await cancel_and_wait(reader)
            self._fail_waiting(error)

    def _fail_waiting(self, error: Exception) -> None:
        waiting, self._waiting = self._waiting, {}
        for answers in waiting.values():
            for answer in answers:
                if not answer.done():
                    answer.set_exception(error)
                    with contextlib.suppress(BaseException):
                        answer.exception()  # retrieved: a caller that gave up must not log "never retrieved"


def _client_error(exc: Exception) -> Exception:
    if isinstance(exc, rpc.AioRpcError):
        message = f"lease keepalive: etcd {exc.code().name}: {exc.details()}"
    else:
        message = f"lease keepalive: the stream ended ({exc})"
    error: Exception = aetcd.ConnectionFailedError(message)
    return error
