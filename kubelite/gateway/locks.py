"""Per-object write serialisation inside one gateway.

Unconditional read-modify-writes of one object (a burst of `kubectl scale`
or patches) would otherwise all race on etcd's compare and retry, which
costs O(n²) round trips for n writers. Queued behind a lock per key they
land one after another at the first attempt; conflicts with other writers
(controllers, other gateways) are still retried by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedLocks:
    """An asyncio.Lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
