"""Per-key exponential back-off with an injected clock (client-go's flowcontrol.Backoff).

:meth:`Backoff.next` doubles a key's delay (from ``initial`` up to ``maximum``) and stamps it;
:meth:`Backoff.remaining` says how long the key is still held back. A key untouched for twice the
maximum starts over. The DaemonSet controller uses it for failed daemon pods (1 s to 15 min).
"""

from __future__ import annotations

from collections.abc import Callable

from kubelite.util.clock import monotonic


class Backoff:
    def __init__(self, *, initial: float = 1.0, maximum: float = 900.0,
                 clock: Callable[[], float] = monotonic) -> None:
        self.initial = initial
        self.maximum = maximum
        self._clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, when it was set)

    def next(self, key: str) -> float:
        now = self._clock()
        delay, stamped = self._entries.get(key, (0.0, now))
        if delay == 0.0 or now - stamped > 2 * self.maximum:
            delay = self.initial
        else:
            delay = min(delay * 2, self.maximum)
        self._entries[key] = (delay, now)
        return delay

    def remaining(self, key: str) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        delay, stamped = entry
        return max(stamped + delay - self._clock(), 0.0)

    def gc(self) -> None:
        """Forget keys untouched for twice the maximum (bounded memory)."""
        now = self._clock()
        for key in [k for k, (_d, stamped) in self._entries.items() if now - stamped > 2 * self.maximum]:
            del self._entries[key]
