"""Scenario files are refused before anything starts, naming the field; schedules replay by seed.
Pure: no cluster is started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.testing import EtcdKill, ProcessKill, Schedule, parse_duration
from kubelite.testing.scenario import ScenarioError, build_scenario, load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "chaos"


def scenario(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": "t", "manifests": ["web.yaml"],
                           "faults": {"every": "5s", "duration": "20s", "pick": [{"kind": "etcd-kill"}]}}
    raw.update(changes)
    return raw


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        build_scenario(raw, base=EXAMPLES)
    return str(info.value)


def test_every_example_is_valid() -> None:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    scenarios = [p for p in paths if "faults:" in p.read_text()]
    # docs/chaos.md's numbered scenarios 1-8, the host faults and kl up's
    assert {p.name for p in scenarios} >= {
        "etcd-leader-kill.yaml", "etcd-leader-kill-scale.yaml", "etcd-partition-freeze.yaml",
        "manager-leader-kill.yaml", "docker-agent-kill.yaml", "agent-cut-off.yaml", "gateway-restart.yaml",
        "update-burst.yaml", "etcd-outage.yaml", "docker-engine-restart.yaml", "clock-skew.yaml",
        "kl-up-existing.yaml"}
    for path in scenarios:
        loaded = load_scenario(path)
        assert loaded.schedule.plan(), path


def test_a_valid_scenario_has_its_documents_and_schedule() -> None:
    loaded = build_scenario(scenario(seed=7), base=EXAMPLES)
    assert [d["kind"] for d in loaded.documents] == ["Deployment"]
    assert [s.at for s in loaded.schedule.plan()] == [2.0, 7.0, 12.0, 17.0]
    assert loaded.schedule.seed == 7 and loaded.model.faults.every == 5.0


@pytest.mark.parametrize(("changes", "field", "why"), [
    ({"faults": {"pick": [{"kind": "etcd-explode"}]}}, "faults.pick[0].kind", "unknown fault 'etcd-explode'"),
    ({"faults": {"every": "10x", "pick": [{"kind": "etcd-kill"}]}}, "faults.every", "not a duration"),
    ({"faults": {"hold": "-1s", "pick": [{"kind": "etcd-kill"}]}}, "faults.hold", "not a duration"),
    ({"faults": {"every": "1s", "hold": "2s", "pick": [{"kind": "etcd-kill"}]}}, "faults.hold", "longer than"),
    ({"faults": {"pick": []}}, "faults.pick", "at least 1"),
    ({"manifests": ["missing.yaml"]}, "manifests[0]", "No such file"),
    ({"cluster": {"etcd": {"members": 2}}}, "cluster.etcd.members", ""),
    ({"cluster": {"runtime": "kata"}}, "cluster.runtime", ""),
    ({"cluster": {"docker_engine": "private"}}, "cluster", "docker_engine: private is the engine of docker agents"),
    ({"cluster": {"docker_engine": "theirs", "runtime": "docker"}}, "cluster.docker_engine", ""),
    ({"faults": {"pick": [{"kind": "etcd-kill", "target": "leaderr"}]}}, "faults.pick[0]",
     "'leaderr' is not an etcd target"),
    ({"faults": {"pick": [{"kind": "clock-skew", "target": "agent"}]}}, "faults.pick[0]", "clock-skew needs the offset"),
    ({"faults": {"pick": [{"kind": "kill", "seconds": 5}]}}, "faults.pick[0]", "only clock-skew takes it"),
    ({"faults": {"pick": [{"kind": "clock-skew", "seconds": "-9x"}]}}, "faults.pick[0].seconds", "not a duration"),
    ({"workloads": {"burst": {"deployment": "nope"}}}, "workloads.burst.deployment", "no Deployment 'nope'"),
    ({"workloads": {"burst": {"low": 5, "high": 2}}}, "workloads.burst.low", "more than high"),
    ({"workloads": {"burst": {"patches": 0}}}, "workloads.burst.patches", "greater than or equal to 1"),
    ({"checks": {"converged-timeout": "soon"}}, "checks.converged-timeout", "not a duration"),
    ({"fautls": {}}, "fautls", "Extra inputs"),
])
def test_bad_scenarios_are_refused_naming_the_field(changes: dict[str, Any], field: str, why: str) -> None:
    message = refusal(scenario(**changes))
    assert message.startswith(f"{field}: "), message
    assert why in message


def test_host_faults_build_from_a_scenario() -> None:
    from kubelite.testing import ClockSkew, DockerEngineRestart
    loaded = build_scenario(scenario(cluster={"runtime": "docker", "docker_engine": "private", "clock_skew": True},
                                     faults={"pick": [{"kind": "clock-skew", "target": "agent", "seconds": "-90s"},
                                                      {"kind": "docker-restart"},
                                                      {"kind": "etcd-kill", "target": "all"}]}), base=EXAMPLES)
    skew, engine, outage = loaded.schedule.faults
    assert isinstance(skew, ClockSkew) and skew.seconds == -90.0 and skew.target == "agent"
    assert isinstance(engine, DockerEngineRestart) and engine.engine is None
    assert isinstance(outage, EtcdKill) and outage.target == "all"
    spec = loaded.model.cluster.spec()
    assert (spec.runtime, spec.docker_engine, spec.clock_skew) == ("docker", "private", True)


def test_a_manifest_of_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    with pytest.raises(ScenarioError, match=r"manifests\[0\]: .*not a kind kubelite serves: example.com/v1 Widget"):
        build_scenario(scenario(manifests=["x.yaml"]), base=tmp_path)


@given(st.integers(min_value=0, max_value=2**32), st.floats(min_value=0.5, max_value=20))
def test_a_seed_replays_the_same_plan(seed: int, every: float) -> None:
    faults = [EtcdKill("leader"), EtcdKill("random"), ProcessKill("agent")]
    plan = Schedule(faults, every=every, duration=60, hold=0.1, seed=seed).plan()
    again = Schedule(faults, every=every, duration=60, hold=0.1, seed=seed).plan()
    assert [(s.at, s.fault, s.seed) for s in plan] == [(s.at, s.fault, s.seed) for s in again]
    assert all(abs(b.at - a.at - every) <= 0.001 for a, b in zip(plan, plan[1:]))  # at: rounded to ms


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("10s", 10.0), ("2m", 120.0), ("1.5", 1.5), (3, 3.0)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "-1s", "10 sec", "1d", True])
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_target_needs_its_address_and_excludes_a_cluster_shape() -> None:
    assert refusal(scenario(target={"server": "http://127.0.0.1:8080"})).startswith("target: give kl_up")
    assert refusal(scenario(target={"kl_up": "/tmp/x"}, cluster={"agents": 1})).startswith("cluster: a scenario with")


@pytest.mark.parametrize(("argv", "kinds"), [
    (["/root/.cache/kubelite/etcd", "--name=kubelite"], ("etcd",)),
    (["/venv/bin/python", "-m", "controllers", "--id", "x"], ("cm",)),
    (["/venv/bin/python", "-m", "kubelite.gateway", "--listen", "x"], ("gateway",)),
    (["/venv/bin/python", "-m", "controllers.controlplane", "--gateway", "--controller-manager"], ("cm", "gateway")),
    (["/venv/bin/python", "-m", "agent", "--node", "n"], ("agent",)),
    (["/venv/bin/python", "-m", "agent.sim_inspect"], ("agent",)),
    (["/venv/bin/python", "-m", "agentx"], ()),
    (["/bin/sh"], ()),
])
def test_existing_processes_are_classified_by_command_line(argv: list[str], kinds: tuple[str, ...]) -> None:
    from kubelite.testing.existing import _kinds
    assert _kinds(argv) == kinds
