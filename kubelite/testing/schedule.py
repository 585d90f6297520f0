"""A seeded schedule of faults over time: "every 10 s for 2 min, one of these faults, held 3 s".

``Schedule.plan()`` is a pure function of the schedule (the seed picks each fault and the
seed of its own random choices, e.g. which member ``random`` means), so the same seed
replays the same run: same faults, same order, same targets given the same cluster state.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubelite.testing.cluster import Cluster
from kubelite.testing.etcd_local import NotSupported
from kubelite.testing.faults import Fault
from kubelite.testing.report import ScenarioReport
from kubelite.util import clock

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds of ``"500ms"``, ``"10s"``, ``"2m"``, ``"1h"`` or a bare number of seconds.
    Raises ValueError for anything else (negative, no number, unknown unit)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"negative duration: {value}")
        return float(value)
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (write e.g. 500ms, 10s, 2m)")
    return float(match.group(1)) * UNITS[match.group(2)]


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the schedule starts
    fault: Fault
    seed: int  # seeds the fault's own random choices


@dataclass
class Schedule:
    """``faults`` (one picked per step, seeded) every ``every`` s from ``start_after`` until
    ``duration``; each held ``hold`` s, then healed (``hold`` must not exceed ``every``)."""

    faults: Sequence[Fault]
    every: float = 10.0
    duration: float = 60.0
    hold: float = 3.0
    start_after: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.faults:
            raise ValueError("faults: at least one")
        if self.every <= 0:
            raise ValueError(f"every: {self.every} must be positive")
        if self.hold > self.every:
            raise ValueError(f"hold: {self.hold}s is longer than every: {self.every}s")

    def plan(self) -> list[Step]:
        rng = random.Random(self.seed)
        steps: list[Step] = []
        at = self.start_after
        while at < self.duration:
            steps.append(Step(round(at, 3), rng.choice(list(self.faults)), rng.randrange(2**32)))
            at += self.every
        return steps

    async def run(self, cluster: Cluster, report: ScenarioReport,
                  progress: Callable[[str], None] | None = None) -> None:
        """Inject and heal each step on time; skipped faults are recorded with their reason."""
        say = progress or (lambda _: None)
        began = clock.monotonic()
        for step in self.plan():
            await asyncio.sleep(max(0.0, began + step.at - clock.monotonic()))
            name = step.fault.describe()
            reason = step.fault.unavailable(cluster)
            if reason is None:
                try:
                    what = await step.fault.inject(cluster, random.Random(step.seed))
                except (NotSupported, AssertionError) as exc:  # e.g. no member reports a leader now
                    reason = str(exc)
            if reason is not None:
                report.event("skip", name, reason)
                say(f"skip   {name}: {reason}")
                continue
            event = report.event("inject", name, what)
            say(f"inject {name}: {what} (t={event.at:.1f}s)")
            await asyncio.sleep(self.hold)
            await step.fault.heal(cluster)
            event = report.event("heal", name, what)
            say(f"heal   {name}: {what} (t={event.at:.1f}s)")
        await asyncio.sleep(max(0.0, began + self.duration - clock.monotonic()))
