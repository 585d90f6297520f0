"""The worker loop that drives ``reconcile(key)``, after controller-runtime.

``reconcile`` reads the cache and acts; it returns a small :class:`Result`
or raises. The loop decides what happens next: an error is retried with the
queue's per-key back-off, a :class:`TerminalError` is logged and dropped,
success forgets the key's failures. A write refused by the leader fence
(:class:`~kubelite.storage.store.NotLeader`: this manager was deposed) is logged as
"fenced: not the leader" and not retried: the next term re-queues every key.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubelite.etcd.ops import EtcdSpaceExceeded
from kubelite.storage.store import NotLeader
from kubelite.util.supervise import cancel_and_wait, spawn
from kubelite.client.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the loop. ``settled=False``: the key's outcome is decided later by
    work the reconcile started (the scheduler's binding cycle), which reports it through
    :meth:`ReconcileLoop.settle` — so its back-off is not reset before that work has succeeded."""

    requeue_after: float | None = None
    settled: bool = True


class TerminalError(Exception):
    """Retrying cannot help (bad spec, impossible request): log, do not requeue."""


Reconcile = Callable[[str], Awaitable[Result | None]]


class ReconcileLoop:
    """N workers taking keys from one queue; ``start``/``stop`` like every component."""

    def __init__(self, name: str, queue: WorkQueue, reconcile: Reconcile, *, workers: int = 2) -> None:
        self.name = name
        self.queue = queue
        self.reconcile = reconcile
        self.workers = workers
        self.reconciles = 0
        self.errors = 0
        self.fenced = 0
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [spawn(f"{self.name}-worker-{i}", self._work) for i in range(self.workers)]

    async def stop(self) -> None:
        self.queue.shutdown()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: str) -> None:
        """One reconcile of ``key`` with the retry policy applied (tests call this directly)."""
        self.reconciles += 1
        try:
            result = await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.settle(key, exc)
        else:
            if result is None or result.settled:
                self.settle(key, None)
            if result is not None and result.requeue_after is not None:
                self.queue.add_after(key, result.requeue_after)

    def settle(self, key: str, exc: Exception | None) -> None:
        """Apply the retry policy to ``key``'s outcome: ``None`` is success."""
        call_id = next(self._ids)
        if exc is None:
            self.queue.forget(key)
        elif isinstance(exc, NotLeader):
            self.fenced += 1
            log.warning("%s #%d %s: fenced: not the leader; write refused, not retried (%s)", self.name, call_id,
                        key, exc)
            self.queue.forget(key)
        elif isinstance(exc, TerminalError):
            self.errors += 1
            log.error("%s #%d %s: terminal error, not retrying: %s", self.name, call_id, key, exc)
            self.queue.forget(key)
        else:
            self.errors += 1
            retries = self.queue.rate_limiter.num_requeues(key)
            log.warning("%s #%d %s: %s (retry %d)", self.name, call_id, key, exc, retries + 1,
                        exc_info=not _expected(exc))
            self.queue.add_rate_limited(key)


def _expected(exc: Exception) -> bool:
    """Conflicts, unavailability and a full etcd (its message says what to do) are operational
    conditions; only unexpected errors get a traceback."""
    code = getattr(exc, "code", None)
    return code in (404, 409, 503) or isinstance(exc, EtcdSpaceExceeded)
