"""Kubernetes' restart back-off (CrashLoopBackOff, ImagePullBackOff), with an injected clock.

Same rules as the kubelet's ``flowcontrol.Backoff``: the first restart of a
container is immediate; each later one waits, counted from when the container
finished, a delay that starts at ``initial`` (10 s) and doubles up to ``cap``
(5 min). An entry expires when the container ran (or nothing happened) for
longer than ``2 * cap`` (10 min): the next crash starts the schedule over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubelite.util.clock import wall as clock_wall


@dataclass(frozen=True)
class BackoffEntry:
    delay: float  # the wait that applies to the next restart
    last_update: float  # when the last restart was allowed (clock seconds)


class Backoff:
    def __init__(
        self, *, initial: float = 10.0, cap: float = 300.0, clock: Callable[[], float] = clock_wall
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.clock = clock
        self.entries: dict[str, BackoffEntry] = {}

    def _expired(self, entry: BackoffEntry, event_time: float) -> bool:
        return event_time - entry.last_update > 2 * self.cap

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds still to wait before acting on ``key`` after an event (a crash) at ``event_time``."""
        entry = self.entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return 0.0
        return max(0.0, entry.delay - (self.clock() - event_time))

    def next(self, key: str) -> float:
        """Record a restart now; returns the delay that will apply to the following one."""
        now = self.clock()
        entry = self.entries.get(key)
        if entry is None or self._expired(entry, now):
            delay = self.initial
        else:
            delay = min(entry.delay * 2, self.cap)
        self.entries[key] = BackoffEntry(delay, now)
        return delay

    def forget(self, key: str) -> None:
        self.entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self.entries if k.startswith(prefix)]:
            del self.entries[key]
