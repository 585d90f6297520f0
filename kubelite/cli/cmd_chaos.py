"""``kl chaos run SCENARIO.yaml``: a chaos scenario without writing Python (docs/chaos.md).

The file is validated before anything starts (a bad one is one ``error:`` line naming the
field); then a cluster of the scenario's shape starts, the manifests are applied, the fault
schedule runs with a live line per event, the checks run, and a table of figures ends with
the verdict. Exit code 0 for PASS, 1 for FAIL. Every process and container the run started
is removed at the end, also on Ctrl-C. rich (already kl's table library) draws the table.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kubelite.cli.common import command
from kubelite.cli.errors import CliError
from kubelite.testing.etcd_local import NotSupported
from kubelite.testing.existing import ExistingCluster
from kubelite.testing.report import ScenarioReport, format_figure
from kubelite.testing.scenario import Scenario, ScenarioError, load_scenario, run_scenario
from kubelite.util import clock

app = typer.Typer(help="Chaos scenarios: a cluster, faults on a schedule, checks and figures.",
                  no_args_is_help=True)


@command(app, "run")
def run(
    scenario_file: Annotated[Path, typer.Argument(help="The scenario (YAML; see examples/chaos/).",
                                                  show_default=False)],
    seed: Annotated[int | None, typer.Option(help="Replay with this seed (else the file's).")] = None,
    json_report: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
    check_only: Annotated[bool, typer.Option("--check", help="Only validate the file.")] = False,
    consent: Annotated[bool, typer.Option(
        "--i-know-this-kills-processes",
        help="Allow a scenario with a target (a cluster this run did not start) to signal its processes.")] = False,
) -> None:
    """Run SCENARIO_FILE: start its cluster, apply its manifests, inject its faults, check, report."""
    try:
        scenario = load_scenario(scenario_file, seed=seed)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    if scenario.model.target is not None and not check_only and not consent:
        raise CliError(f"{scenario_file} hurts an existing cluster (target:): its faults kill and freeze processes "
                       "this run did not start; pass --i-know-this-kills-processes to go ahead")
    console = Console(highlight=False, soft_wrap=True)  # progress lines stay whole lines (grep, logs)
    if check_only:
        console.print(f"{scenario_file}: valid ({len(scenario.documents)} objects, "
                      f"{len(scenario.schedule.plan())} fault steps, seed {scenario.model.seed})")
        return
    report = asyncio.run(_run(scenario, console))
    console.print(figures_table(report))
    if json_report is not None:
        json_report.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    console.print(f"verdict: [bold {'green' if report.ok else 'red'}]{report.verdict}[/] "
                  f"(seed {report.seed}; replay with --seed {report.seed})")
    if not report.ok:
        raise typer.Exit(1)


async def _run(scenario: Scenario, console: Console) -> ScenarioReport:
    tmp = Path(tempfile.mkdtemp(prefix="kl-chaos-"))
    began = clock.monotonic()

    def say(line: str) -> None:
        console.print(f"[dim]{clock.monotonic() - began:7.1f}s[/] {line}")

    spec = scenario.model.cluster.spec()
    if scenario.model.target is None:
        say(f"starting {spec.etcd_members} etcd member(s) ({spec.etcd_backend}), {spec.managers} manager(s), "
            f"{spec.gateways} gateway(s), {spec.agents} {spec.runtime} agent(s); logs in {tmp}")
    try:
        cluster = scenario.cluster(tmp)
    except NotSupported as exc:
        raise CliError(str(exc)) from None
    try:
        try:
            await cluster.start()
        except Exception as exc:  # noqa: BLE001 - shown as one line: what failed and where the logs are
            raise CliError(f"the cluster did not start: {exc} (logs in {tmp})") from None
        if isinstance(cluster, ExistingCluster):
            say(f"existing cluster {cluster.gateway_url}: may signal {', '.join(sorted(cluster.pids())) or 'nothing'}")
        say(f"cluster ready: {cluster.gateway_url} (KUBECONFIG={cluster.kubeconfig})")
        return await run_scenario(cluster, scenario, say)
    finally:
        say("stopping the cluster")
        await cluster.stop()


def figures_table(report: ScenarioReport) -> Table:
    table = Table(title=f"{report.name} (seed {report.seed})")
    table.add_column("check / figure")
    table.add_column("value", justify="right")
    table.add_column("result")
    for name in ("first_write", "total"):
        if name in report.figures:
            table.add_row(name, format_figure(report.figures[name]), "")
    for check in report.checks:
        table.add_row(f"[bold]{check.name}[/]", "", "[green]ok[/]" if check.ok else "[red]FAILED[/]")
        for key, value in check.figures.items():
            table.add_row(f"  {key}", format_figure(value), "")
        for problem in check.problems[:5]:
            table.add_row("", "", f"[red]{problem}[/]")
    for event in report.skipped:
        table.add_row(f"skipped {event.fault}", "", event.detail)
    injected = sum(1 for e in report.events if e.action == "inject")
    table.add_row("faults injected", str(injected), "")
    return table
