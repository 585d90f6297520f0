"""A de-duplicating work queue with per-key back-off, after client-go's.

A key is queued at most once however often it is added, and is never handed
to two workers at once: a key added while being processed is queued again
when the worker calls :meth:`WorkQueue.done`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Protocol

from kubelite.util.clock import monotonic


class RateLimiter:
    """Larger of a per-key exponential back-off and a global token bucket.

    Takes an injected clock so tests simply call ``when``.
    """

    def __init__(
        self, *, base_delay: float = 0.005, max_delay: float = 60.0, qps: float = 50.0, burst: int = 300,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: str) -> float:
        """Seconds to wait before retrying ``key``; counts a failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        backoff = float(min(self.base_delay * (2**failures), self.max_delay))
        return max(backoff, self._bucket_delay())

    def _bucket_delay(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)


class ShutDown(Exception):
    """The queue was shut down; workers exit."""


class QueueMetrics(Protocol):
    """What a queue reports, as client-go's workqueue metrics provider (names in the implementation)."""

    def added(self, name: str, depth: int) -> None: ...
    def taken(self, name: str, depth: int, waited: float) -> None: ...
    def finished(self, name: str, worked: float) -> None: ...
    def retried(self, name: str) -> None: ...


class WorkQueue:
    """``priority`` (key → int, read when the key is queued): higher pops first, FIFO among equals
    (kube-scheduler's activeQ orders by pod priority); without it the queue is plain FIFO."""

    def __init__(self, name: str = "queue", *, rate_limiter: RateLimiter | None = None,
                 metrics: QueueMetrics | None = None, clock: Callable[[], float] = monotonic,
                 priority: Callable[[str], int] | None = None) -> None:
        self.name = name
        self.rate_limiter = rate_limiter or RateLimiter()
        self.metrics = metrics
        self._clock = clock
        self._added_at: dict[str, float] = {}  # when a queued key was first added (queue latency)
        self._started_at: dict[str, float] = {}  # when a worker took it (work duration)
        self._priority = priority
        self._heap: list[tuple[int, int, str]] = []
        self._order = itertools.count()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, asyncio.TimerHandle] = {}
        self._has_items = asyncio.Event()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue) + len(self._heap)

    def _push(self, key: str) -> None:
        if self._priority is None:
            self._queue.append(key)
        else:
            heapq.heappush(self._heap, (-self._priority(key), next(self._order), key))

    def _pop(self) -> str:
        return heapq.heappop(self._heap)[2] if self._heap else self._queue.popleft()

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._added_at.setdefault(key, self._clock())
        if key not in self._processing:
            self._push(key)
            self._wake()
        if self.metrics is not None:
            self.metrics.added(self.name, len(self))

    def add_after(self, key: str, delay: float) -> None:
        """Add later; an earlier pending add of the same key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        pending = self._waiting.get(key)
        if pending is not None:
            if pending.when() <= loop.time() + delay:
                return
            pending.cancel()
        self._waiting[key] = loop.call_later(delay, self._fire, key)

    def add_rate_limited(self, key: str) -> None:
        if self.metrics is not None:
            self.metrics.retried(self.name)
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def _fire(self, key: str) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def _wake(self) -> None:
        self._has_items.set()

    async def get(self) -> str:
        """Next key to process; raises :class:`ShutDown` once the queue is shut down."""
        while not self._queue and not self._heap:
            if self._shutting_down:
                raise ShutDown(self.name)
            self._has_items.clear()
            await self._has_items.wait()
        key = self._pop()
        self._processing.add(key)
        self._dirty.discard(key)
        now = self._clock()
        self._started_at[key] = now
        waited = now - self._added_at.pop(key, now)
        if self.metrics is not None:
            self.metrics.taken(self.name, len(self), waited)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if self.metrics is not None and started is not None:
            self.metrics.finished(self.name, self._clock() - started)
        if key in self._dirty:
            self._push(key)
            self._wake()

    def is_processing(self, key: str) -> bool:
        return key in self._processing

    def shutdown(self) -> None:
        self._shutting_down = True
        for handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self._has_items.set()
