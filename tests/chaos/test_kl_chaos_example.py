"""``kl chaos run examples/chaos/etcd-leader-kill.yaml`` passes, prints its figures and verdict,
writes the JSON report, and leaves no container or process behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import docker
import pytest

# serial (scripts/test.sh's second phase, alone on the machine): `kl chaos run`: a 3-member etcd whose leader is killed on a schedule, with time-bounded checkers
pytestmark = [pytest.mark.chaos, pytest.mark.serial]

REPO = Path(__file__).resolve().parents[2]
KL = [sys.executable, "-m", "kubelite.cli"]


def test_kl_chaos_run_etcd_leader_kill_example(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    out = tmp_path / "report.json"
    run = subprocess.run([*KL, "chaos", "run", str(REPO / "examples/chaos/etcd-leader-kill.yaml"), "--json", str(out)],
                         capture_output=True, text=True, timeout=400, env={"COLUMNS": "120", **_env()})
    print(run.stdout[-4000:])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "verdict: PASS (seed 1; replay with --seed 1)" in run.stdout
    assert "acknowledged-writes" in run.stdout and "after_fault_2" in run.stdout
    report = json.loads(out.read_text())
    assert report["verdict"] == "PASS" and all(c["ok"] for c in report["checks"])
    assert [e["action"] for e in report["events"]] == ["inject", "heal", "inject", "heal"]
    assert report["figures"]["acknowledged-writes.lost"] == 0
    assert report["figures"]["acknowledged-writes.acknowledged"] > 0
    members = set(re.findall(r"(kubelite-chaos-[0-9a-f]{8})-etcd\d", run.stdout))
    assert len(members) == 1
    assert docker_client.containers.list(all=True, filters={"name": members.pop()}) == []
    logs = re.search(r"logs in (\S+)", run.stdout)
    assert logs is not None
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert logs.group(1) not in ps  # every component was stopped


def _env() -> dict[str, str]:
    import os
    return dict(os.environ)
