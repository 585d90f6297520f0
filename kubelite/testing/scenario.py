"""Scenario files (``kl chaos run SCENARIO.yaml``) and the runner both the CLI and the pytest
plugin use.

A scenario names the cluster shape, the manifests to apply, the workloads, the fault schedule
and the checks (docs/chaos.md has the format). :func:`load_scenario` validates the whole file
before anything starts: unknown keys or faults, bad durations, missing or unreadable
manifests raise :class:`ScenarioError` naming the field (``faults.pick[1].kind``).
pydantic (already kubelite's model library) does the structural part with ``extra=forbid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kubelite.api.resources import DEPLOYMENTS
from kubelite.cli.kinds import resolve_kind
from kubelite.storage.store import Store
from kubelite.testing.api import Api
from kubelite.testing.checkers import (
    AcknowledgedWrites,
    BurstAcknowledged,
    Checker,
    Converged,
    NoDuplicatePods,
    NoOrphans,
    TimeToFirstWrite,
)
from kubelite.testing.checks import Expect
from kubelite.testing.cluster import Cluster, ClusterSpec
from kubelite.testing.convergence import object_key
from kubelite.testing.faults import CATALOGUE, ETCD_TARGETS, ClockSkew, DockerEngineRestart, Fault
from kubelite.testing.report import CheckReport, ScenarioReport
from kubelite.testing.schedule import Schedule, parse_duration
from kubelite.testing.workloads import DeploymentChurn, PodCountMonitor, ProbeWriter, UpdateBurst
from kubelite.util import clock

Progress = Callable[[str], None]


class ScenarioError(ValueError):
    """A scenario file that cannot run; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _duration(value: Any) -> float | None:
    """Seconds of a duration written ``500ms``, ``10s``, ``2m`` or as a number (``None`` stays)."""
    if value is None:
        return None
    if not isinstance(value, (str, int, float)):
        raise ValueError(f"not a duration: {value!r}")
    return parse_duration(value)


class EtcdShape(_Strict):
    members: Literal[1, 3, 5] = 3
    backend: Literal["containers", "local"] = "containers"


class ClusterShape(_Strict):
    etcd: EtcdShape = EtcdShape()
    managers: int = Field(2, ge=1, le=5)
    gateways: int = Field(1, ge=1, le=5)
    agents: int = Field(3, ge=0, le=100)
    runtime: Literal["sim", "docker", "oci"] = "sim"
    agent_processes: int = Field(1, ge=1, le=10)
    proxy_etcd: bool = False
    docker_engine: Literal["shared", "private"] = "shared"
    clock_skew: bool = False

    @model_validator(mode="after")
    def _engine_needs_docker(self) -> ClusterShape:
        if self.docker_engine == "private" and self.runtime != "docker":
            raise ValueError("docker_engine: private is the engine of docker agents: set runtime: docker")
        return self

    def spec(self) -> ClusterSpec:
        return ClusterSpec(etcd_members=self.etcd.members, etcd_backend=self.etcd.backend, managers=self.managers,
                           gateways=self.gateways, agents=self.agents, runtime=self.runtime,
                           agent_processes=self.agent_processes, proxy_etcd=self.proxy_etcd,
                           docker_engine=self.docker_engine, clock_skew=self.clock_skew)


class FaultSpec(_Strict):
    kind: str
    target: str | int = "leader"
    pick_random: bool = False
    seconds: float | None = None  # clock-skew: the offset, negative = behind (a number or "-90s")

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CATALOGUE:
            raise ValueError(f"unknown fault {value!r} (known: {', '.join(sorted(CATALOGUE))})")
        return value

    @field_validator("seconds", mode="before")
    @classmethod
    def _signed(cls, value: Any) -> float | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().startswith("-"):
            return -parse_duration(value.strip()[1:])
        return _duration(value)

    @model_validator(mode="after")
    def _fits_kind(self) -> FaultSpec:
        if self.kind.startswith("etcd-") and isinstance(self.target, str) and self.target not in ETCD_TARGETS:
            raise ValueError(f"target: {self.target!r} is not an etcd target ({', '.join(ETCD_TARGETS)} "
                             "or a member index)")
        if (self.seconds is None) != (self.kind != "clock-skew"):
            raise ValueError("seconds: clock-skew needs the offset in seconds (and only clock-skew takes it)")
        return self

    def build(self) -> Fault:
        if self.kind.startswith("etcd-"):
            return CATALOGUE[self.kind](target=self.target)  # type: ignore[call-arg]  # the etcd faults' field
        if self.kind == "docker-restart":
            return DockerEngineRestart()
        target = self.target if self.target != "leader" else "manager-leader"
        if self.kind == "clock-skew":
            assert self.seconds is not None  # checked above
            return ClockSkew(target=str(target if target != "manager-leader" else "agent"),
                             pick_random=self.pick_random, seconds=self.seconds)
        return CATALOGUE[self.kind](target=str(target), pick_random=self.pick_random)  # type: ignore[call-arg]


class FaultSchedule(_Strict):
    every: float = 10.0
    duration: float = 30.0
    hold: float = 3.0
    start_after: float = 2.0
    pick: list[FaultSpec] = Field(min_length=1)

    @field_validator("every", "duration", "hold", "start_after", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float | None:
        return _duration(value)


class ChurnSpec(_Strict):
    deployment: str = "churn"
    low: int = Field(1, ge=0)
    high: int = Field(10, ge=1)
    every: float = 2.0

    @field_validator("every", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float | None:
        return _duration(value)


class BurstSpec(_Strict):
    """docs/chaos.md scenario 7: concurrent merge-patches of one Deployment's replicas."""

    deployment: str = "web"
    patches: int = Field(500, ge=1, le=5000)
    low: int = Field(1, ge=0)
    high: int = Field(12, ge=1)


class Workloads(_Strict):
    probe: bool = True
    churn: ChurnSpec | None = None
    burst: BurstSpec | None = None


class Checks(_Strict):
    acknowledged_writes: bool = Field(True, alias="acknowledged-writes")
    first_write_max: float | None = Field(30.0, alias="first-write-max")
    converged_timeout: float | None = Field(120.0, alias="converged-timeout")
    no_duplicate_pods: int | None = Field(None, alias="no-duplicate-pods", ge=0)
    no_orphans: bool = Field(True, alias="no-orphans")

    @field_validator("first_write_max", "converged_timeout", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float | None:
        return _duration(value)


class TargetSpec(_Strict):
    """An existing cluster (not started by the run): a ``kl up`` data dir, or its parts by hand."""

    kl_up: str | None = None
    server: str | None = None
    etcd_endpoints: list[str] = []
    pids: dict[str, int] = {}


class ScenarioFile(_Strict):
    name: str
    seed: int = 0
    cluster: ClusterShape = ClusterShape()
    target: TargetSpec | None = None
    manifests: list[str] = []
    workloads: Workloads = Workloads()
    faults: FaultSchedule
    checks: Checks = Checks()


@dataclass
class Scenario:
    """A validated scenario: the file's model, the manifests' documents, the schedule."""

    model: ScenarioFile
    documents: list[dict[str, Any]]
    schedule: Schedule
    path: Path | None = None
    base: Path = Path(".")
    extra_checkers: list[Checker] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.name

    def cluster(self, tmp: Path) -> Cluster:
        """The cluster this scenario runs on: a new one of its shape, or its existing target."""
        target = self.model.target
        if target is None:
            return Cluster(self.model.cluster.spec(), tmp)
        from kubelite.testing.existing import ExistingCluster
        return ExistingCluster(tmp, server=target.server, etcd_endpoints=tuple(target.etcd_endpoints),
                               kl_up_dir=self.base / target.kl_up if target.kl_up else None, pids=target.pids)


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_scenario(path: Path, *, seed: int | None = None) -> Scenario:
    """Parse and validate ``path`` (manifests relative to it); ``seed`` overrides the file's."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping (name, cluster, manifests, faults, checks)")
    return build_scenario(raw, base=path.parent, seed=seed, path=path)


def build_scenario(raw: dict[str, Any], *, base: Path, seed: int | None = None,
                   path: Path | None = None) -> Scenario:
    where = f"{path}: " if path else ""
    try:
        model = ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ScenarioError(f"{where}{_field(first['loc'])}: {message}{more}") from None
    if seed is not None:
        model.seed = seed
    if model.faults.hold > model.faults.every:
        raise ScenarioError(f"{where}faults.hold: {model.faults.hold}s is longer than faults.every")
    for name, load in (("churn", model.workloads.churn), ("burst", model.workloads.burst)):
        if load is not None and load.low > load.high:
            raise ScenarioError(f"{where}workloads.{name}.low: more than high")
    target = model.target
    if target is not None:
        if target.kl_up is None and not (target.server and target.etcd_endpoints):
            raise ScenarioError(f"{where}target: give kl_up (a kl up data dir), or server and etcd_endpoints")
        if "cluster" in raw:
            raise ScenarioError(f"{where}cluster: a scenario with a target runs on that cluster; remove cluster")
    documents: list[dict[str, Any]] = []
    for i, name in enumerate(model.manifests):
        documents += _manifest(base / name, f"{where}manifests[{i}]")
    burst = model.workloads.burst
    if burst is not None and not any(d.get("kind") == "Deployment" and (d.get("metadata") or {}).get("name")
                                     == burst.deployment for d in documents):
        raise ScenarioError(f"{where}workloads.burst.deployment: no Deployment {burst.deployment!r} in the manifests")
    schedule = Schedule([f.build() for f in model.faults.pick], every=model.faults.every,
                        duration=model.faults.duration, hold=model.faults.hold,
                        start_after=model.faults.start_after, seed=model.seed)
    return Scenario(model, documents, schedule, path, base)


def _manifest(path: Path, field_name: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except OSError as exc:
        raise ScenarioError(f"{field_name}: {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{field_name}: {path}: not YAML: {exc}") from None
    for doc in docs:
        if not isinstance(doc, dict) or resolve_kind(str(doc.get("apiVersion", "")), str(doc.get("kind", ""))) is None:
            what = f"{doc.get('apiVersion')} {doc.get('kind')}" if isinstance(doc, dict) else repr(doc)[:40]
            raise ScenarioError(f"{field_name}: {path}: not a kind kubelite serves: {what}")
    return docs


async def apply_documents(api: Api, documents: list[dict[str, Any]]) -> None:
    """Create each document through the gateway (retried until acknowledged)."""
    for doc in documents:
        res = resolve_kind(doc["apiVersion"], doc["kind"])
        assert res is not None  # checked by load_scenario
        namespace = (doc.get("metadata") or {}).get("namespace") or "default"
        path = res.collection_path(namespace)
        name = (doc.get("metadata") or {}).get("name")
        await api.until_ok(lambda: api.call("POST", path, doc), 60, what=f"create {doc['kind']} {name}")


async def run_scenario(cluster: Cluster, scenario: Scenario, progress: Progress | None = None) -> ScenarioReport:
    """Apply the manifests, start the workloads, run the schedule, then run every check."""
    say = progress or (lambda _: None)
    model = scenario.model
    report = ScenarioReport(model.name, seed=model.seed)
    store = await cluster.store()
    async with cluster.api() as api:
        await apply_documents(api, scenario.documents)
        say(f"applied {len(scenario.documents)} objects")
        probe = ProbeWriter(api, prefix=f"chaos-probe-{uuid.uuid4().hex[:6]}")  # a rerun never finds its writes
        monitor = PodCountMonitor(store)
        churn = (DeploymentChurn(api, model.workloads.churn.deployment, model.workloads.churn.low,
                                 model.workloads.churn.high, model.workloads.churn.every, model.seed)
                 if model.workloads.churn else None)
        burst = (UpdateBurst(api, model.workloads.burst.deployment, model.workloads.burst.patches,
                             model.workloads.burst.low, model.workloads.burst.high, model.seed)
                 if model.workloads.burst else None)
        if model.workloads.probe:
            probe.start()
        monitor.start()
        if burst is not None:
            burst.start()
        if churn is not None:
            await churn.start()
        try:
            report.figures["first_write"] = round(await _first_write(probe, report), 3) if model.workloads.probe \
                else None
            await scenario.schedule.run(cluster, report, say)
            injected = [e for e in report.events if e.action == "inject"]
            if model.workloads.probe and injected:  # the last fault may be too recent to have a write after it
                with contextlib.suppress(AssertionError):  # then the first-write check reports it
                    await probe.wait_success_after(report.started + injected[-1].at,
                                                   model.checks.first_write_max or 30.0)
        finally:
            await probe.stop()
            if churn is not None:
                try:
                    await churn.stop()
                    report.add(CheckReport("churn", True, [], {"changes": churn.changes}))
                except AssertionError as exc:  # a change never acknowledged: the scenario fails, it does not crash
                    report.add(CheckReport("churn", False, [str(exc)], {"changes": churn.changes}))
        say("faults done; checking")
        checkers: list[Checker] = []
        if burst is not None:
            await burst.wait()  # before the convergence check: it converges to the burst's last write
            checkers.append(BurstAcknowledged(burst))
        if model.workloads.probe and model.checks.acknowledged_writes:
            checkers.append(AcknowledgedWrites(probe))
        if model.workloads.probe and model.checks.first_write_max is not None:
            checkers.append(TimeToFirstWrite(probe, model.checks.first_write_max))
        if model.checks.converged_timeout is not None:
            checkers.append(Converged(await _expected(store, churn, burst), model.checks.converged_timeout))
        if model.checks.no_duplicate_pods is not None:
            checkers.append(NoDuplicatePods(monitor, model.checks.no_duplicate_pods))
        if model.checks.no_orphans:
            checkers.append(NoOrphans())
        checkers += scenario.extra_checkers
        try:
            for checker in checkers:
                check = report.add(await _safe_check(checker, cluster, report))
                say(f"check  {check.name}: {'ok' if check.ok else 'FAILED: ' + '; '.join(check.problems[:3])}")
        finally:
            await monitor.stop()
    report.figures["total"] = round(clock.monotonic() - report.started, 3)
    return report


async def _expected(store: Store, churn: DeploymentChurn | None,
                    burst: UpdateBurst | None = None) -> dict[str, Expect] | None:
    """Every Deployment at its own spec, except the churned one (at its last acknowledged change)
    and the burst's (at the replicas of its last acknowledged patch)."""
    if churn is None and (burst is None or burst.last_acknowledged is None):
        return None
    expected: dict[str, Expect] = {}
    for d in (await store.list(DEPLOYMENTS)).items:
        expected[object_key(d.namespace, d.name)] = Expect(d.spec.replicas if d.spec.replicas is not None else 1, None)
    if churn is not None:
        expected[churn.name] = churn.expect
    if burst is not None and burst.last_acknowledged is not None:
        expected[burst.name] = Expect(burst.last_acknowledged, None)
    return expected


async def _first_write(probe: ProbeWriter, report: ScenarioReport, timeout: float = 30.0) -> float:
    """Seconds from the scenario's start to the probe's first acknowledged write."""
    deadline = clock.Deadline(timeout)
    while not probe.acknowledged and not deadline.expired():
        await asyncio.sleep(0.05)
    value = probe.first_success_after(report.started)
    return value if value is not None else timeout


async def _safe_check(checker: Checker, cluster: Cluster, report: ScenarioReport) -> CheckReport:
    try:
        return await checker.check(cluster, report)
    except Exception as exc:  # noqa: BLE001 - a checker that cannot read fails, with the reason
        return CheckReport(checker.name, False, [f"check failed to run: {exc!r}"])
