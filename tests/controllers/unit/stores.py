"""In-memory Stores that also observe what a controller asked for, where the store's answer alone
cannot show it (a refused write the controller rightly ignores looks the same as no write)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kubelite.api.resources import Resource
from kubelite.storage.memstore import MemStore
from kubelite.storage.store import T


class CountingStore(MemStore):
    """Counts create attempts per resource plural (``creates["serviceaccounts"]``), refused ones included."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.creates: Counter[str] = Counter()

    async def create(self, res: Resource[T], obj: T, **kwargs: Any) -> T:
        self.creates[res.plural] += 1
        return await super().create(res, obj, **kwargs)
