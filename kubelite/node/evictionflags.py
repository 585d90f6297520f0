"""The agents' ``--eviction-hard`` rules, shared by the agent's flags and ``kl up`` (which checks
them before starting anything, and must not import the agent): the kubelet's syntax
``SIGNAL<VALUE,...`` for the disk signals, each value a percentage of the filesystem's capacity
or a quantity (``pkg/kubelet/eviction/api``, ``ParseThresholdConfig``).

The decisions made with these thresholds are in :mod:`agent.eviction`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubelite.api.quantity import format_bytes, to_bytes

SIGNALS = ("nodefs.available", "imagefs.available")
# The kubelet's disk defaults for --eviction-hard: the agent's own default.
KUBELET_EVICTION_HARD = "nodefs.available<10%,imagefs.available<15%"
# What ``kl up`` (and the test suite) give their agents. A local cluster shares the developer's
# disk with everything else on it: percentages of a large, mostly used disk would evict every pod
# while tens of GiB are still free (a 270 GB disk at 92 % has 20 GB left and is "under pressure").
# kind turns disk eviction off for the same reason; we keep an absolute floor instead, so a log or
# emptyDir flood still cannot fill the host's disk to the last byte.
LOCAL_EVICTION_HARD = "nodefs.available<1Gi,imagefs.available<1Gi"
_STATEMENT = re.compile(r"\s*([a-z.]+)\s*<\s*([^,\s]+)\s*")


@dataclass(frozen=True)
class Threshold:
    signal: str  # one of SIGNALS
    percentage: float | None = None  # of the capacity, 0..1
    quantity: int | None = None  # bytes

    def bytes_of(self, capacity: int) -> int:
        """The threshold in bytes for a filesystem of ``capacity`` bytes."""
        if self.percentage is not None:
            return int(capacity * self.percentage)
        return self.quantity or 0

    def __str__(self) -> str:
        value = f"{self.percentage * 100:g}%" if self.percentage is not None else format_bytes(self.quantity or 0)
        return f"{self.signal}<{value}"


def parse_eviction_hard(raw: str) -> tuple[Threshold, ...]:
    """``"nodefs.available<10%,imagefs.available<2Gi"`` → thresholds; ``""`` → none.

    Raises ValueError naming the bad statement (unknown signal, operator other than ``<``,
    a percentage outside 0–100, a malformed quantity).
    """
    thresholds: list[Threshold] = []
    for statement in (part for part in raw.split(",") if part.strip()):
        match = _STATEMENT.fullmatch(statement)
        if match is None:
            raise ValueError(f"eviction threshold {statement.strip()!r} must be SIGNAL<VALUE (e.g. nodefs.available<10%)")
        signal, value = match.groups()
        if signal not in SIGNALS:
            raise ValueError(f"eviction signal {signal!r} is not supported (supported: {', '.join(SIGNALS)})")
        if value.endswith("%"):
            try:
                percent = float(value[:-1])
            except ValueError:
                raise ValueError(f"eviction threshold {statement.strip()!r}: {value!r} is not a percentage") from None
            if not 0 < percent <= 100:
                raise ValueError(f"eviction threshold {statement.strip()!r}: percentage must be in (0, 100]")
            thresholds.append(Threshold(signal, percentage=percent / 100))
        else:
            try:
                thresholds.append(Threshold(signal, quantity=to_bytes(value)))
            except ValueError as exc:
                raise ValueError(f"eviction threshold {statement.strip()!r}: {exc}") from None
    return tuple(thresholds)
