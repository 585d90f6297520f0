"""The pytest plugin (entry point ``pytest11``: ``pip install kubelite[testing]`` enables it).

Fixtures:

- ``kubelite_cluster``: a started :class:`~kubelite.testing.Cluster`, stopped (every process and
  container removed) after the test. Shape: ``@pytest.mark.kubelite_cluster(etcd_members=3,
  agents=2, runtime="sim", etcd_backend="local")`` or indirect parametrisation with a dict of
  :class:`~kubelite.testing.ClusterSpec` fields.
- ``kubelite_faults``: a :class:`FaultKit` on that cluster: ``await kubelite_faults.inject(fault)``,
  ``heal``, ``run(schedule)``, ``probe()``, ``writes_resumed()``, ``check(*checkers)``,
  ``figure(name, value)``; every fault still injected is healed after the test, and the test's
  :class:`ScenarioReport` is kept.

Mark ``chaos`` for chaos tests (``-m chaos`` / ``-m "not chaos"``). At the end, the terminal
summary lists each scenario's figures, and ``--kubelite-chaos-report=FILE`` writes them as JSON.
Async fixtures need pytest-asyncio (a dependency of the ``testing`` extra).
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.testing.api import Api
from kubelite.testing.checkers import Checker
from kubelite.testing.cluster import Cluster, ClusterSpec
from kubelite.testing.etcd_local import NotSupported
from kubelite.testing.faults import Fault
from kubelite.testing.report import COLLECTED, CheckReport, ScenarioReport, format_figures
from kubelite.testing.schedule import Schedule
from kubelite.testing.workloads import ProbeWriter

# Without pytest-asyncio the plugin still loads (pytest must not break for anyone who has
# kubelite installed); its fixtures then say what is missing.
HAVE_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None


class FaultKit:
    """Faults, probe and checks of one test, recorded in :attr:`report`."""

    def __init__(self, cluster: Cluster, name: str, seed: int = 0) -> None:
        self.cluster = cluster
        self.report = ScenarioReport(name, seed=seed)
        self.rng = random.Random(seed)
        self.injected: list[Fault] = []
        self._api: Api | None = None
        self._probe: ProbeWriter | None = None

    async def inject(self, fault: Fault) -> str | None:
        """Inject ``fault``; returns what it hurt, or None when it cannot be injected here (then
        the report records the skip and its reason)."""
        reason = fault.unavailable(self.cluster)
        if reason is None:
            try:
                what = await fault.inject(self.cluster, self.rng)
            except NotSupported as exc:
                reason = str(exc)
        if reason is not None:
            self.report.event("skip", fault.describe(), reason)
            return None
        self.injected.append(fault)
        self.report.event("inject", fault.describe(), what)
        return what

    async def heal(self, fault: Fault) -> None:
        await fault.heal(self.cluster)
        if fault in self.injected:
            self.injected.remove(fault)
        self.report.event("heal", fault.describe())

    async def heal_all(self) -> None:
        for fault in reversed(list(self.injected)):
            await self.heal(fault)

    async def run(self, schedule: Schedule) -> None:
        """Run a seeded schedule (its seed becomes the report's)."""
        self.report.seed = schedule.seed
        await schedule.run(self.cluster, self.report)

    async def api(self) -> Api:
        """An API client of the first gateway, open for the test."""
        if self._api is None:
            self._api = self.cluster.api()
            await self._api.__aenter__()
        return self._api

    async def probe(self) -> ProbeWriter:
        """The acknowledged-write probe, started (stopped after the test)."""
        if self._probe is None:
            self._probe = ProbeWriter(await self.api())
            self._probe.start()
        return self._probe

    async def writes_resumed(self, timeout: float = 30.0) -> float:
        """Wait until the probe has a write acknowledged that was sent after the last injected
        fault; seconds from the fault to that write (also kept as a figure)."""
        injected = [e for e in self.report.events if e.action == "inject"]
        assert injected, "no fault injected yet"
        seconds = await (await self.probe()).wait_success_after(self.report.started + injected[-1].at, timeout)
        self.figure(f"writes_resumed_{len(injected)}", round(seconds, 3))
        return seconds

    async def check(self, *checkers: Checker) -> list[CheckReport]:
        """Run ``checkers`` (the probe stops first, so its record is final); their reports join the
        test's report. Raises AssertionError naming every problem when one fails."""
        if self._probe is not None:
            await self._probe.stop()
        reports = [self.report.add(await c.check(self.cluster, self.report)) for c in checkers]
        failed = [f"{r.name}: {p}" for r in reports if not r.ok for p in r.problems[:10]]
        assert not failed, "chaos checks failed:\n" + "\n".join(failed)
        return reports

    def figure(self, name: str, value: float | int | str | None) -> None:
        self.report.figures[name] = value

    async def close(self) -> None:
        try:
            await self.heal_all()
        finally:
            if self._probe is not None:
                await self._probe.stop()
            if self._api is not None:
                await self._api.__aexit__(None, None, None)


def _spec(request: pytest.FixtureRequest) -> ClusterSpec:
    fields: dict[str, Any] = {}
    marker = request.node.get_closest_marker("kubelite_cluster")
    if marker is not None:
        fields.update(marker.kwargs)
    fields.update(getattr(request, "param", None) or {})
    return ClusterSpec(**fields)


async def _cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    """A started kubelite Cluster (shape: mark ``kubelite_cluster(**spec)`` or indirect param);
    every process and container is removed after the test."""
    cluster = Cluster(_spec(request), tmp_path / "kubelite")
    try:
        await cluster.start()
        yield cluster
    finally:
        await cluster.stop()


async def _faults(request: pytest.FixtureRequest, kubelite_cluster: Cluster) -> AsyncIterator[FaultKit]:
    """A FaultKit on ``kubelite_cluster``: inject/heal faults, probe, checks; healed after the test
    and its report shown in the terminal summary (and ``--kubelite-chaos-report`` JSON)."""
    kit = FaultKit(kubelite_cluster, request.node.nodeid)
    try:
        yield kit
    finally:
        try:
            await kit.close()
        finally:
            COLLECTED.append(kit.report)


if HAVE_PYTEST_ASYNCIO:
    import pytest_asyncio

    kubelite_cluster = pytest_asyncio.fixture(_cluster, name="kubelite_cluster")
    kubelite_faults = pytest_asyncio.fixture(_faults, name="kubelite_faults")
else:
    @pytest.fixture(name="kubelite_cluster")
    def _no_asyncio_cluster() -> None:
        pytest.fail("kubelite_cluster needs pytest-asyncio: pip install 'kubelite[testing]'")

    @pytest.fixture(name="kubelite_faults")
    def _no_asyncio_faults() -> None:
        pytest.fail("kubelite_faults needs pytest-asyncio: pip install 'kubelite[testing]'")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kubelite-chaos-report", default=None, metavar="FILE",
                     help="write the chaos scenarios' figures and checks here as JSON")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a chaos test (kubelite.testing)")
    config.addinivalue_line("markers", "kubelite_cluster(**spec): the shape of the kubelite_cluster fixture "
                                       "(kubelite.testing.ClusterSpec fields)")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not COLLECTED:
        return
    terminalreporter.section("kubelite chaos figures")
    for report in COLLECTED:
        checks = " ".join(f"{c.name}={'ok' if c.ok else 'FAILED'}" for c in report.checks)
        skipped = " ".join(f"skipped[{e.fault}: {e.detail}]" for e in report.skipped)
        terminalreporter.write_line(
            " ".join(p for p in (f"{report.name}:", format_figures(report.figures), checks, skipped) if p))
    target = config.getoption("--kubelite-chaos-report")
    if target:
        Path(target).write_text(json.dumps([r.to_dict() for r in COLLECTED], indent=2) + "\n")
        terminalreporter.write_line(f"chaos report: {target}")
