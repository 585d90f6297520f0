"""``kl chaos run`` refuses a bad scenario in one line naming the field, before starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

KL = [sys.executable, "-m", "kubelite.cli"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples/chaos/etcd-leader-kill.yaml"


def test_a_bad_scenario_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nfaults:\n  every: 10s\n  pick: [{kind: etcd-kill, target: leader}, {kind: dns}]\n")
    run = subprocess.run([*KL, "chaos", "run", str(bad)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"error: {bad}: faults.pick[1].kind: unknown fault 'dns' (known: clock-skew, cut-off, "
        "docker-restart, etcd-freeze, etcd-kill, etcd-partition, etcd-restart, kill, pause)"]
    assert run.stdout == ""


def test_check_validates_only() -> None:
    run = subprocess.run([*KL, "chaos", "run", str(EXAMPLE), "--check"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{EXAMPLE}: valid (1 objects, 2 fault steps, seed 1)"


def test_an_existing_cluster_needs_explicit_consent() -> None:
    example = EXAMPLE.with_name("kl-up-existing.yaml")
    run = subprocess.run([*KL, "chaos", "run", str(example)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip() == (
        f"error: {example} hurts an existing cluster (target:): its faults kill and freeze processes this run "
        "did not start; pass --i-know-this-kills-processes to go ahead")


def test_an_existing_cluster_that_is_not_running_is_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: s\ntarget: {{kl_up: {tmp_path / 'nothing'}}}\nfaults: {{pick: [{{kind: kill}}]}}\n")
    run = subprocess.run([*KL, "chaos", "run", str(scenario), "--i-know-this-kills-processes"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.startswith(f"error: {tmp_path / 'nothing'}/up.json: ") and "is kl up running" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
