"""What a chaos scenario found: its figures (seconds, counts), the checkers' reports, the faults
injected or skipped (with the reason) — printed as one ``[chaos]`` line per scenario, shown
as a table, and collected (:data:`COLLECTED`) for the pytest plugin's terminal summary and
JSON report.

Shapes: figures are ``{name: float seconds | int | str}``; ``to_dict()`` is plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelite.util import clock

Figure = float | int | str | None


@dataclass
class CheckReport:
    """One checker's verdict: ``ok``, the problems it found (first ones), and its figures."""

    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "problems": self.problems[:50], "figures": self.figures}


@dataclass
class FaultEvent:
    """``at``: seconds since the scenario started; ``action``: inject, heal or skip."""

    at: float
    action: str
    fault: str
    detail: str = ""


@dataclass
class ScenarioReport:
    name: str
    seed: int | None = None
    figures: dict[str, Figure] = field(default_factory=dict)
    checks: list[CheckReport] = field(default_factory=list)
    events: list[FaultEvent] = field(default_factory=list)
    started: float = field(default_factory=clock.monotonic)

    @property
    def skipped(self) -> list[FaultEvent]:
        return [e for e in self.events if e.action == "skip"]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok else "FAIL"

    def event(self, action: str, fault: str, detail: str = "") -> FaultEvent:
        event = FaultEvent(round(clock.monotonic() - self.started, 3), action, fault, detail)
        self.events.append(event)
        return event

    def add(self, check: CheckReport) -> CheckReport:
        self.checks.append(check)
        self.figures.update({f"{check.name}.{k}": v for k, v in check.figures.items()})
        return check

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "verdict": self.verdict, "figures": self.figures,
                "checks": [c.to_dict() for c in self.checks],
                "events": [vars(e) for e in self.events]}

    def line(self) -> str:
        return f"[chaos] {self.name}: {format_figures(self.figures)} -> {self.verdict}"


def format_figure(value: Figure) -> str:
    return f"{value:.2f}s" if isinstance(value, float) else str(value)


def format_figures(figures: dict[str, Figure]) -> str:
    return " ".join(f"{k}={format_figure(v)}" for k, v in figures.items())


COLLECTED: list[ScenarioReport] = []
"""Every report of this process (:func:`report` and :func:`record` add to it), for the pytest plugin."""


def record(scenario: ScenarioReport) -> ScenarioReport:
    """Keep ``scenario`` for the summary, and print its line."""
    COLLECTED.append(scenario)
    print("\n" + scenario.line(), flush=True)
    return scenario


def report(scenario: str, **figures: Figure) -> None:
    """One line per scenario with its recovery figures (collected in docs/chaos.md)."""
    COLLECTED.append(ScenarioReport(scenario, figures=dict(figures)))
    print(f"\n[chaos] {scenario}: " + format_figures(figures), flush=True)
