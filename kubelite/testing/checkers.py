"""Checkers: ``await checker.check(cluster, report)`` returns a :class:`CheckReport` (ok, the
problems found, figures) rather than a bool, so a failed run says what broke and by how much.

- :class:`AcknowledgedWrites`: every write the probe saw acknowledged is in etcd.
- :class:`TimeToFirstWrite`: after each injected fault, seconds to the first acknowledged write
  (fails past ``max_seconds``).
- :class:`Converged`: Deployments converge (exact replicas of the newest template, Running and
  Ready on Ready nodes, every container accounted for), StatefulSets roll out and Jobs finish,
  in every namespace (or ``namespaces``), within ``timeout``; figure: seconds.
- :class:`NoDuplicatePods`: no Deployment ever owned more than ``spec.replicas + bound`` live pods.
- :class:`BurstAcknowledged`: every patch of an update burst landed and the last one won.
- :class:`NoOrphans`: no pod or ReplicaSet whose controller is gone, no container without its pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kubelite.api.resources import DEPLOYMENTS, LEASES
from kubelite.testing.api import NAMESPACE
from kubelite.testing.checks import Expect, problems, wait_converged
from kubelite.testing.cluster import Cluster
from kubelite.testing.report import CheckReport, ScenarioReport
from kubelite.testing.workloads import PodCountMonitor, ProbeWriter, UpdateBurst
from kubelite.util import clock


class Checker(Protocol):
    name: str

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport: ...


@dataclass
class AcknowledgedWrites:
    probe: ProbeWriter
    name: str = "acknowledged-writes"

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport:
        stored = {item.name for item in (await (await cluster.store()).list(LEASES, NAMESPACE)).items}
        lost = sorted(self.probe.acknowledged - stored)
        ends = sorted(end for _, end, ok in self.probe.attempts if ok)
        gap = max((b - a for a, b in zip(ends, ends[1:])), default=0.0)
        return CheckReport(self.name, not lost, [f"acknowledged write lost: {n}" for n in lost],
                           {"acknowledged": len(self.probe.acknowledged), "attempts": len(self.probe.attempts),
                            "lost": len(lost), "longest_write_gap": round(gap, 3)})


@dataclass
class TimeToFirstWrite:
    probe: ProbeWriter
    max_seconds: float = 30.0
    name: str = "first-write"

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport:
        found: list[str] = []
        figures: dict[str, float | int | str | None] = {}
        for i, event in enumerate(e for e in report.events if e.action == "inject"):
            value = self.probe.first_success_after(report.started + event.at)
            figures[f"after_fault_{i + 1}"] = None if value is None else round(value, 3)
            if value is None or value > self.max_seconds:
                found.append(f"no acknowledged write within {self.max_seconds}s of {event.fault} at {event.at}s")
        return CheckReport(self.name, not found, found, figures)


@dataclass
class Converged:
    expected: dict[str, Expect] | None = None  # None: every Deployment at its own spec
    timeout: float = 120.0
    containers: bool = True
    namespaces: tuple[str, ...] | None = None  # None: every namespace
    name: str = "converged"

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport:
        assert cluster.processes is not None
        try:
            took = await wait_converged(cluster.processes, self.expected, self.timeout, containers=self.containers,
                                        namespaces=self.namespaces)
        except AssertionError as exc:
            return CheckReport(self.name, False, [str(exc)], {"seconds": None})
        return CheckReport(self.name, True, [], {"seconds": round(took, 3),
                                                  "since_start": round(clock.monotonic() - report.started, 3)})


@dataclass
class NoDuplicatePods:
    monitor: PodCountMonitor
    bound: int = 0  # extra pods tolerated beyond spec.replicas (a rollout's maxSurge)
    name: str = "no-duplicate-pods"

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport:
        over = {d: n for d, n in self.monitor.max_excess.items() if n > self.bound}
        return CheckReport(self.name, not over,
                           [f"deployment {d} had {n} pods beyond its replicas (bound {self.bound})"
                            for d, n in over.items()],
                           {"max_excess": max(self.monitor.max_excess.values(), default=0),
                            "samples": self.monitor.samples})


@dataclass
class NoOrphans:
    name: str = "no-orphans"
    kinds: tuple[str, ...] = field(default=("orphan",))
    namespaces: tuple[str, ...] | None = None  # None: every namespace

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport:
        assert cluster.processes is not None
        found = await problems(await cluster.store(), None, await cluster.processes.containers(), self.namespaces)
        orphans = [p for p in found if p.startswith(self.kinds)]
        return CheckReport(self.name, not orphans, orphans, {"orphans": len(orphans)})


@dataclass
class BurstAcknowledged:
    """Every patch of an :class:`UpdateBurst` answered 200 (no 5xx, no dropped connection), two
    writes acknowledged at one resourceVersion set the same value, and the stored replicas are
    those of the acknowledged write with the highest resourceVersion (the last one wins)."""

    burst: UpdateBurst
    name: str = "update-burst"

    async def check(self, cluster: Cluster, report: ScenarioReport) -> CheckReport:
        await self.burst.wait()
        results = self.burst.results
        codes: dict[int, int] = {}
        at_revision: dict[int, set[int]] = {}
        for status, rv, replicas in results:
            codes[status] = codes.get(status, 0) + 1
            if rv is not None:
                at_revision.setdefault(rv, set()).add(replicas)
        found = [f"{n} patch(es) answered {code or 'nothing'}" for code, n in sorted(codes.items()) if code != 200]
        found += [f"different values acknowledged at revision {rv}: {sorted(v)}"
                  for rv, v in at_revision.items() if len(v) > 1]
        last = self.burst.last_acknowledged
        stored = (await (await cluster.store()).get(DEPLOYMENTS, self.burst.name, NAMESPACE)).spec.replicas
        if last is not None and stored != last:
            found.append(f"stored replicas {stored}, but the last acknowledged write set {last}")
        return CheckReport(self.name, not found, found, {
            "patches": len(results), "acknowledged": codes.get(200, 0), "seconds": round(self.burst.seconds, 3),
            "stored_replicas": stored})
