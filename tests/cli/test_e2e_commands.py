"""`kl` end to end against a real cluster started by `kl up --runtime sim`
(embedded etcd, controller-manager, gateway, two sim agents). One cluster for
the module; each test uses its own deployment names."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kubelite.cli.main import app
from kubelite.version import __version__
from tests.cli.cluster import KlUp, alive, kl_argv, run_sync
from tests.helpers import wait_for
from tests.strict_etcd import strict_problems_of_up

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("kl-e2e") / "data", ["--runtime", "sim", "--nodes", "2"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
        # after every flow of this module, what the whole cluster stored is strict Kubernetes JSON
        problems = run_sync(strict_problems_of_up(up.state))
        assert problems == [], "\n".join(problems)
        pids = up.pids()
        assert up.stop() == 0, up.output()
        assert not [pid for pid in pids if alive(pid)], "kl up left processes behind"
    finally:
        up.stop()
        up.kill_leftovers()


def kl(cluster: KlUp, *args: str, ok: bool = True, stdin: str | None = None) -> Any:
    result = runner.invoke(app, list(args), env=cluster.env, input=stdin)
    if ok:
        assert result.exit_code == 0, f"kl {' '.join(args)} → {result.exit_code}\n{result.stdout}{result.stderr}"
    return result


def deployment(name: str, *, replicas: int = 2, version: str = "v1") -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "examples" / "web.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["metadata"]["labels"] = {"app": name}
    doc["spec"]["replicas"] = replicas
    doc["spec"]["selector"]["matchLabels"] = {"app": name}
    doc["spec"]["template"]["metadata"]["labels"] = {"app": name}
    doc["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "VERSION", "value": version}]
    return doc


def write(tmp_path: Path, doc: dict[str, Any], filename: str = "app.yaml") -> str:
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def pod_names(cluster: KlUp, app_label: str) -> list[str]:
    out = kl(cluster, "get", "pods", "-l", f"app={app_label}", "-o", "name").stdout
    return out.split()


def rollout_status(cluster: KlUp, name: str) -> list[str]:
    """`kl rollout status` as a real process: every line it printed, once it exits 0."""
    result = subprocess.run(kl_argv("rollout", "status", f"deployment/{name}", "--timeout", "90"),
                            env={**cluster.env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_apply_created_unchanged_configured(cluster: KlUp, tmp_path: Path) -> None:
    path = write(tmp_path, deployment("applied"))
    assert kl(cluster, "apply", "-f", path).stdout == "deployment.apps/applied created\n"
    assert kl(cluster, "apply", "-f", path).stdout == "deployment.apps/applied unchanged\n"
    path = write(tmp_path, deployment("applied", replicas=3))
    assert kl(cluster, "apply", "-f", path).stdout == "deployment.apps/applied configured\n"
    assert kl(cluster, "apply", "-f", path).stdout == "deployment.apps/applied unchanged\n"
    live = json.loads(kl(cluster, "get", "deploy", "applied", "-o", "json").stdout)
    assert live["spec"]["replicas"] == 3 and live["kind"] == "Deployment"
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    # a directory and stdin work too
    assert kl(cluster, "apply", "-f", str(tmp_path)).stdout == "deployment.apps/applied unchanged\n"
    assert kl(cluster, "apply", "-f", "-", stdin=Path(path).read_text()).stdout.endswith("unchanged\n")


def test_rollout_status_history_undo(cluster: KlUp, tmp_path: Path) -> None:
    kl(cluster, "apply", "-f", write(tmp_path, deployment("roll", version="v1")))
    lines = rollout_status(cluster, "roll")
    assert lines[-1] == 'deployment "roll" successfully rolled out'
    assert all(line.startswith(("Waiting for deployment", 'deployment "roll"')) for line in lines)

    kl(cluster, "apply", "-f", write(tmp_path, deployment("roll", version="v2")))
    assert rollout_status(cluster, "roll")[-1] == 'deployment "roll" successfully rolled out'
    history = kl(cluster, "rollout", "history", "deployment/roll").stdout.splitlines()
    assert history[0] == "deployment.apps/roll"
    assert [line.split()[0] for line in history[2:]] == ["1", "2"]

    assert kl(cluster, "rollout", "undo", "deployment/roll").stdout == "deployment.apps/roll rolled back\n"
    assert rollout_status(cluster, "roll")[-1] == 'deployment "roll" successfully rolled out'
    live = json.loads(kl(cluster, "get", "deploy/roll", "-o", "json").stdout)
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "VERSION", "value": "v1"}]
    assert "pod-template-hash" not in live["spec"]["template"]["metadata"]["labels"]
    history = kl(cluster, "rollout", "history", "deploy", "roll").stdout.splitlines()
    assert [line.split()[0] for line in history[2:]] == ["2", "3"]  # revision 1 became 3

    undo = kl(cluster, "rollout", "undo", "deployment/roll", "--to-revision", "9", ok=False)
    assert undo.exit_code == 1 and undo.stderr == "error: unable to find specified revision 9 in history\n"


def test_scale_get_formats_and_watch(cluster: KlUp, tmp_path: Path) -> None:
    kl(cluster, "apply", "-f", write(tmp_path, deployment("scaled", replicas=1)))
    watcher = subprocess.Popen(kl_argv("get", "deploy", "scaled", "-w"), env={**cluster.env, "PATH": "/usr/bin:/bin"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert kl(cluster, "scale", "deploy/scaled", "--replicas", "3").stdout == "deployment.apps/scaled scaled\n"
        run_sync(wait_for(lambda: len(pod_names(cluster, "scaled")) == 3, timeout=30, message="3 pods"))
        seen: list[str] = []

        def watch_saw_three() -> bool:
            while not lines.empty():
                seen.append(lines.get())
            return any(line.split()[1].endswith("/3") for line in seen[1:] if line.split())

        run_sync(wait_for(watch_saw_three, timeout=30, message="kl get -w to show the new replica count"))
        assert seen[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)

    names = pod_names(cluster, "scaled")
    assert all(name.startswith("pod/scaled-") for name in names)
    wide = kl(cluster, "get", "pods", "-l", "app=scaled", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert {row.split()[6] for row in wide[1:]} <= {"node-1", "node-2"}
    every = kl(cluster, "get", "po", "-A", "-l", "app=scaled").stdout.splitlines()
    assert every[0].split()[0] == "NAMESPACE" and all(r.split()[0] == "default" for r in every[1:])
    nodes = yaml.safe_load(kl(cluster, "get", "no", "-o", "yaml").stdout)
    assert nodes["kind"] == "List" and {n["metadata"]["name"] for n in nodes["items"]} == {"node-1", "node-2"}
    assert kl(cluster, "get", "nodes", "-o", "name").stdout.split() == ["node/node-1", "node/node-2"]
    rs = kl(cluster, "get", "rs", "-l", "app=scaled").stdout.splitlines()
    assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] and rs[1].split()[1] == "3"


def test_describe_events_logs(cluster: KlUp, tmp_path: Path) -> None:
    kl(cluster, "apply", "-f", write(tmp_path, deployment("described", replicas=1)))
    rollout_status(cluster, "described")
    pod = pod_names(cluster, "described")[0].removeprefix("pod/")
    text = kl(cluster, "describe", "pod", pod).stdout
    assert f"Name:" in text and pod in text and "Node:" in text
    assert "Events:" in text and "Scheduled" in text
    text = kl(cluster, "describe", "deploy/described").stdout
    assert "Replicas:" in text and "1 desired" in text and "Events:" in text
    events = kl(cluster, "events").stdout.splitlines()
    assert events[0].split()[:3] == ["LAST", "SEEN", "TYPE"]
    assert any(f"pod/{pod}" in line for line in events)
    logs = kl(cluster, "logs", pod)
    assert logs.exit_code == 0
    assert kl(cluster, "logs", "deployment/described", "--tail", "1").exit_code == 0


def test_pause_resume_restart_delete(cluster: KlUp, tmp_path: Path) -> None:
    path = write(tmp_path, deployment("paused", replicas=1))
    kl(cluster, "apply", "-f", path)
    assert kl(cluster, "rollout", "pause", "deployment/paused").stdout == "deployment.apps/paused paused\n"
    again = kl(cluster, "rollout", "pause", "deployment/paused", ok=False)
    assert again.exit_code == 1 and again.stderr == 'error: deployments.apps "paused" is already paused\n'
    assert kl(cluster, "rollout", "resume", "deployment/paused").stdout == "deployment.apps/paused resumed\n"
    assert kl(cluster, "rollout", "restart", "deployment/paused").stdout == "deployment.apps/paused restarted\n"
    live = json.loads(kl(cluster, "get", "deploy", "paused", "-o", "json").stdout)
    assert "kubectl.kubernetes.io/restartedAt" in live["spec"]["template"]["metadata"]["annotations"]

    assert kl(cluster, "delete", "-f", path, "--timeout", "60").stdout == 'deployment.apps "paused" deleted\n'
    gone = kl(cluster, "get", "deploy", "paused", ok=False)
    assert gone.exit_code == 1
    assert gone.stderr == 'Error from server (NotFound): deployments.apps "paused" not found\n'
    run_sync(wait_for(lambda: not pod_names(cluster, "paused"), timeout=30, message="its pods to go"))


def test_errors_are_one_line(cluster: KlUp, tmp_path: Path) -> None:
    missing = kl(cluster, "get", "deploy", "nope", ok=False)
    assert (missing.exit_code, missing.stderr) == (
        1, 'Error from server (NotFound): deployments.apps "nope" not found\n')
    unknown = kl(cluster, "get", "frobs", ok=False)
    assert (unknown.exit_code, unknown.stderr) == (1, 'error: the server doesn\'t have a resource type "frobs"\n')
    bad = deployment("bad")
    bad["spec"]["replicas"] = "many"
    invalid = kl(cluster, "apply", "-f", write(tmp_path, bad), ok=False)
    assert invalid.exit_code == 1
    assert invalid.stderr.startswith("Error from server (") and len(invalid.stderr.splitlines()) == 1
    assert "replicas" in invalid.stderr
    # A name is validated and escaped, never spliced into the path (case r08: '?x=1' deleted them all).
    kl(cluster, "apply", "-f", write(tmp_path, deployment("keep-me", replicas=0), "keep.yaml"))
    odd = kl(cluster, "delete", "deployment", "?x=1", ok=False)
    assert odd.exit_code == 1 and odd.stderr.startswith("error: invalid deployment.apps name '?x=1': ")
    assert len(odd.stderr.splitlines()) == 1
    assert kl(cluster, "get", "deploy", "keep-me", "-o", "name").stdout.strip() == "deployment.apps/keep-me"
    version = kl(cluster, "version").stdout.splitlines()
    assert version[0] == f"Client Version: v{__version__}" and version[-1].startswith("Server Version: v1.32.0+kubelite")


def test_real_kubectl_rolls_out_and_back_against_the_real_controllers(cluster: KlUp, tmp_path: Path) -> None:
    """kubectl 1.32's own rollout status/history/undo, driven by kubelite's controllers (not by test data)."""
    kubectl = ["kubectl", "--server", cluster.server, "--request-timeout=20s"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*kubectl, *args], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done
        return done

    assert "created" in run("apply", "-f", write(tmp_path, deployment("kctl", version="v1"), "kctl.yaml")).stdout
    assert 'deployment "kctl" successfully rolled out' in run("rollout", "status", "deployment/kctl",
                                                              "--timeout=60s").stdout
    assert "configured" in run("apply", "-f", write(tmp_path, deployment("kctl", version="v2"), "kctl.yaml")).stdout
    assert 'successfully rolled out' in run("rollout", "status", "deployment/kctl", "--timeout=60s").stdout
    assert "rolled back" in run("rollout", "undo", "deployment/kctl").stdout
    assert 'successfully rolled out' in run("rollout", "status", "deployment/kctl", "--timeout=60s").stdout
    live = json.loads(run("get", "deployment/kctl", "-o", "json").stdout)
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "VERSION", "value": "v1"}]
    assert live["status"]["updatedReplicas"] == live["status"]["readyReplicas"] == 2


def _kubectl(cluster: KlUp) -> Any:
    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["kubectl", "--server", cluster.server, "--request-timeout=20s", *args],
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 0 or not ok, done
        return done
    return run


def _revisions(history: str) -> list[str]:
    return [line.split()[0] for line in history.splitlines()[2:] if line.split()]


def test_real_kubectl_undo_twice_reuses_the_replicasets(cluster: KlUp, tmp_path: Path) -> None:
    """Case 04: kubectl's undo copies the old ReplicaSet's template back with `resources: {}` and
    `creationTimestamp: null` in it; the controller must see the same template (EqualIgnoreHash)
    and reuse that ReplicaSet, so undo toggles v1 (rev 3) / v2 (rev 4) and history reads `3 4`."""
    run = _kubectl(cluster)
    run("apply", "-f", write(tmp_path, deployment("twice", version="v1"), "twice.yaml"))
    run("rollout", "status", "deployment/twice", "--timeout=60s")
    run("set", "env", "deployment/twice", "VERSION=v2")
    run("rollout", "status", "deployment/twice", "--timeout=60s")
    for expected_version, expected_revision in (("v1", "3"), ("v2", "4")):
        assert "rolled back" in run("rollout", "undo", "deployment/twice").stdout
        run("rollout", "status", "deployment/twice", "--timeout=60s")
        live = json.loads(run("get", "deployment/twice", "-o", "json").stdout)
        assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "VERSION",
                                                                             "value": expected_version}]
        assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == expected_revision
    assert _revisions(run("rollout", "history", "deployment/twice").stdout) == ["3", "4"]
    sets = json.loads(run("get", "rs", "-l", "app=twice", "-o", "json").stdout)["items"]
    assert len(sets) == 2
    history = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]:
               rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision-history") for rs in sets}
    assert history == {"3": "1", "4": "2"}
    pruned = run("rollout", "undo", "deployment/twice", "--to-revision=1", ok=False)
    assert pruned.returncode != 0 and "unable to find specified revision 1" in pruned.stderr
    status = json.loads(run("get", "deployment/twice", "-o", "json").stdout)["status"]
    assert (status["updatedReplicas"], status["readyReplicas"], status["replicas"]) == (2, 2, 2)


def test_kl_undo_twice_reuses_the_replicasets(cluster: KlUp, tmp_path: Path) -> None:
    kl(cluster, "apply", "-f", write(tmp_path, deployment("kltwice", version="v1")))
    rollout_status(cluster, "kltwice")
    kl(cluster, "apply", "-f", write(tmp_path, deployment("kltwice", version="v2")))
    rollout_status(cluster, "kltwice")
    for _ in range(2):
        assert kl(cluster, "rollout", "undo", "deployment/kltwice").stdout == "deployment.apps/kltwice rolled back\n"
        rollout_status(cluster, "kltwice")
    assert _revisions(kl(cluster, "rollout", "history", "deployment/kltwice").stdout) == ["3", "4"]


def test_real_kubectl_rollout_status_revision(cluster: KlUp, tmp_path: Path) -> None:
    """Case 21: the Deployment carries its new ReplicaSet's revision, which `rollout status --revision` reads."""
    run = _kubectl(cluster)

    def revision() -> str:
        return str(run("get", "deployment/revs", "-o",
                       "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}").stdout)

    run("apply", "-f", write(tmp_path, deployment("revs", replicas=1, version="v1"), "revs.yaml"))
    run("rollout", "status", "deployment/revs", "--timeout=60s")
    assert revision() == "1"
    run("set", "env", "deployment/revs", "VERSION=v2")
    run("rollout", "status", "deployment/revs", "--timeout=60s")
    assert revision() == "2"
    assert "successfully rolled out" in run("rollout", "status", "deployment/revs", "--revision=2",
                                            "--timeout=30s").stdout
    wrong = run("rollout", "status", "deployment/revs", "--revision=1", "--timeout=10s", ok=False)
    assert wrong.returncode != 0 and "desired revision (1) is different from the running revision (2)" in wrong.stderr
    assert kl(cluster, "rollout", "status", "deployment/revs", "--revision", "2").stdout.endswith(
        'deployment "revs" successfully rolled out\n')
    mismatch = kl(cluster, "rollout", "status", "deployment/revs", "--revision", "1", ok=False)
    assert mismatch.exit_code == 1
    assert mismatch.stderr == "error: desired revision (1) is different from the running revision (2)\n"


def test_real_kubectl_drain_keeps_a_pod_disruption_budget(cluster: KlUp, tmp_path: Path) -> None:
    """kubectl drain evicts through the Eviction API, which the disruption controller's budget governs: with
    minAvailable equal to the replicas, drain keeps retrying on 429 and the pod stays; once the budget allows
    one disruption, drain evicts it and the Deployment replaces it on the other node."""
    run = _kubectl(cluster)

    def budget_status() -> str:
        return str(run("get", "pdb", "guarded", "-o", "jsonpath={.status.observedGeneration},"
                       "{.status.currentHealthy},{.status.desiredHealthy},{.status.disruptionsAllowed}").stdout)

    run("apply", "-f", write(tmp_path, deployment("guarded", replicas=2), "guarded.yaml"))
    run("rollout", "status", "deployment/guarded", "--timeout=60s")
    run("create", "pdb", "guarded", "--selector=app=guarded", "--min-available=2")
    run_sync(wait_for(lambda: budget_status() == "1,2,2,0", timeout=30, message="the budget's status"))
    listed = json.loads(run("get", "pods", "-l", "app=guarded", "-o", "json").stdout)["items"]
    node = listed[0]["spec"]["nodeName"]
    on_node = sorted(p["metadata"]["name"] for p in listed if p["spec"]["nodeName"] == node)
    try:
        refused = run("drain", node, "--pod-selector=app=guarded", "--timeout=12s", ok=False)
        assert refused.returncode != 0, refused
        assert "Cannot evict pod as it would violate the pod's disruption budget." in refused.stderr
        still = json.loads(run("get", "pods", "-l", "app=guarded", "-o", "json").stdout)["items"]
        assert sorted(p["metadata"]["name"] for p in still if p["spec"]["nodeName"] == node) == on_node
        assert not [p for p in still if p["metadata"].get("deletionTimestamp")]

        run("patch", "pdb", "guarded", "--type=merge", "-p", '{"spec": {"minAvailable": 1}}')
        run_sync(wait_for(lambda: budget_status() == "2,2,1,1", timeout=30, message="the budget's new status"))
        drained = run("drain", node, "--pod-selector=app=guarded", "--timeout=60s")
        assert f"node/{node} drained" in drained.stdout, drained
        assert all(f"pod/{name} evicted" in drained.stdout for name in on_node), drained
        run("rollout", "status", "deployment/guarded", "--timeout=60s")
        after = json.loads(run("get", "pods", "-l", "app=guarded", "-o", "json").stdout)["items"]
        assert not [p for p in after if p["spec"]["nodeName"] == node and not p["metadata"].get("deletionTimestamp")]
    finally:
        run("uncordon", node)


def test_real_kubectl_resource_quota(cluster: KlUp) -> None:
    """kubectl create quota, the resourcequota controller fills its status (kubectl describe shows it), a
    pod past `hard` is refused with kube's message, and deleting a pod gives its place back."""
    run = _kubectl(cluster)
    run("create", "namespace", "quota-e2e")  # its own namespace: the quota must not touch the other tests
    run("create", "quota", "q", "--hard=pods=1,count/configmaps=5", "-n", "quota-e2e")

    def pods_row() -> list[str]:
        """The `pods` row of kubectl describe's Resource/Used/Hard table."""
        lines = run("describe", "quota", "q", "-n", "quota-e2e").stdout.splitlines()
        return next((line.split() for line in lines if line.split()[:1] == ["pods"]), [])
    run_sync(wait_for(lambda: pods_row() == ["pods", "0", "1"], timeout=30, message="the quota's status"))
    run("run", "first", "--image=kubelite/demo:latest", "-n", "quota-e2e")
    refused = run("run", "second", "--image=kubelite/demo:latest", "-n", "quota-e2e", ok=False)
    assert refused.returncode != 0
    assert ('Error from server (Forbidden): pods "second" is forbidden: exceeded quota: q, requested: pods=1, '
            "used: pods=1, limited: pods=1") in refused.stderr
    assert pods_row() == ["pods", "1", "1"]
    listed = run("get", "quota", "-n", "quota-e2e").stdout.splitlines()
    assert listed[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert listed[1].startswith("q ") and "count/configmaps: " in listed[1] and ", pods: 1/1" in listed[1]
    run("delete", "pod", "first", "-n", "quota-e2e", "--grace-period=0", "--force")
    run_sync(wait_for(lambda: pods_row() == ["pods", "0", "1"], timeout=30, message="used given back"))
    run("run", "second", "--image=kubelite/demo:latest", "-n", "quota-e2e")
