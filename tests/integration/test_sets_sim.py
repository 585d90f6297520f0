"""DaemonSets and StatefulSets on a whole `kl up --runtime sim` cluster (real agents with the sim runtime,
the controller manager and gateway as processes) through the real kubectl, then every object they left
in etcd validates strictly (tests/strict_etcd.py).

A DaemonSet on every node, rolled forward and back; a StatefulSet with claims started in order, bound
to local-path volumes, keeping a pod's name and node across a delete, rolled forward and back. A v1 ReplicationController (the ReplicaSet controller through its adapter):
applied with a selector map, scaled through its scale subresource, printed, and cascaded on delete.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.cluster import KlUp, kl_argv, run_sync
from tests.helpers import wait_for
from tests.strict_etcd import strict_problems_of_up

pytestmark = pytest.mark.timeout(300)

MANIFESTS = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: app, image: "example/agent:1"}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: app, image: "example/web:1"}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
"""
RC_MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: rc}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: web, namespace: rc}
spec:
  replicas: 3
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: app, image: "example/web:1"}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("sets") / "data", ["--runtime", "sim", "--nodes", "2"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        up.stop()
        up.kill_leftovers()


def kubectl(cluster: KlUp, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--server", cluster.server, "--request-timeout=20s", *args], input=stdin,
                          capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def kl(cluster: KlUp, *args: str) -> str:
    done = subprocess.run(kl_argv(*args), env={**os.environ, **cluster.env}, capture_output=True, text=True,
                          timeout=150)
    assert done.returncode == 0, f"kl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def pods(cluster: KlUp, app: str) -> list[dict[str, Any]]:
    items = json.loads(kubectl(cluster, "get", "pods", "-l", f"app={app}", "-o", "json"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def test_daemonset_and_statefulset_on_sim_agents(cluster: KlUp) -> None:
    kubectl(cluster, "apply", "-f", "-", stdin=MANIFESTS)
    assert "successfully rolled out" in kubectl(cluster, "rollout", "status", "ds/agent", "--timeout=90s")
    assert "roll out complete" in kubectl(cluster, "rollout", "status", "sts/web", "--timeout=120s")
    nodes = sorted(n["metadata"]["name"] for n in json.loads(kubectl(cluster, "get", "nodes", "-o", "json"))["items"])
    assert sorted(p["spec"]["nodeName"] for p in pods(cluster, "agent")) == nodes
    web = {p["metadata"]["name"]: p for p in pods(cluster, "web")}
    assert sorted(web) == ["web-0", "web-1", "web-2"]
    claims = json.loads(kubectl(cluster, "get", "pvc", "-o", "json"))["items"]
    assert sorted((c["metadata"]["name"], c["status"]["phase"]) for c in claims) == [
        ("data-web-0", "Bound"), ("data-web-1", "Bound"), ("data-web-2", "Bound")]

    # a deleted pod comes back under its name, on the node its volume lives on
    node, uid = web["web-1"]["spec"]["nodeName"], web["web-1"]["metadata"]["uid"]
    kubectl(cluster, "delete", "pod", "web-1", "--wait=false")

    def back() -> bool:
        now = {p["metadata"]["name"]: p for p in pods(cluster, "web")}
        pod = now.get("web-1")
        return bool(pod and pod["metadata"]["uid"] != uid and pod.get("status", {}).get("phase") == "Running")
    run_sync(wait_for(back, timeout=60, message="web-1 to come back"))
    assert {p["metadata"]["name"]: p for p in pods(cluster, "web")}["web-1"]["spec"]["nodeName"] == node

    # rolled forward and back
    for kind, app, image in (("ds/agent", "agent", "example/agent"), ("sts/web", "web", "example/web")):
        kubectl(cluster, "set", "image", kind, f"app={image}:2")
        kubectl(cluster, "rollout", "status", kind, "--timeout=120s")
        assert {p["spec"]["containers"][0]["image"] for p in pods(cluster, app)} == {f"{image}:2"}
        kubectl(cluster, "rollout", "undo", kind)

        def undone(app: str = app, image: str = image) -> bool:
            running = pods(cluster, app)
            return bool(running) and {p["spec"]["containers"][0]["image"] for p in running} == {f"{image}:1"} and all(
                p.get("status", {}).get("phase") == "Running" for p in running)
        run_sync(wait_for(undone, timeout=120, message=f"{kind} to roll back"))
        kubectl(cluster, "rollout", "status", kind, "--timeout=120s")
        history = kubectl(cluster, "rollout", "history", kind)
        assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"], history

    # kl's rollout commands on both kinds: back to revision 2 (image :2), and its status
    for kind, app, image in (("daemonset/agent", "agent", "example/agent"), ("statefulset/web", "web", "example/web")):
        assert "REVISION" in kl(cluster, "rollout", "history", kind)
        assert "rolled back" in kl(cluster, "rollout", "undo", kind, "--to-revision", "2")
        kl(cluster, "rollout", "status", kind, "--timeout", "120")

        def forward(app: str = app, image: str = image) -> bool:
            running = pods(cluster, app)
            return bool(running) and {p["spec"]["containers"][0]["image"] for p in running} == {f"{image}:2"}
        run_sync(wait_for(forward, timeout=120, message=f"kl rollout undo of {kind}"))

    problems = run_sync(strict_problems_of_up(cluster.state))
    assert problems == [], "\n".join(problems)
    logs = "".join(p.read_text(errors="replace") for p in (cluster.data_dir / "logs").glob("*.log"))
    assert 'unknown field "' not in logs and "dropped fields Kubernetes does not have" not in logs


def test_replicationcontroller_on_sim_agents(cluster: KlUp) -> None:
    kubectl(cluster, "apply", "-f", "-", stdin=RC_MANIFEST)

    def rc_pods() -> list[dict[str, Any]]:
        items = json.loads(kubectl(cluster, "get", "pods", "-n", "rc", "-o", "json"))["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def settled(count: int) -> bool:
        status = json.loads(kubectl(cluster, "get", "rc", "web", "-n", "rc", "-o", "json")).get("status") or {}
        running = [p for p in rc_pods() if p.get("status", {}).get("phase") == "Running"]
        return len(rc_pods()) == count and len(running) == count and status.get("readyReplicas") == count \
            and status.get("replicas") == count
    run_sync(wait_for(lambda: settled(3), timeout=90, message="3 RC pods Running and reported"))
    rc = json.loads(kubectl(cluster, "get", "rc", "web", "-n", "rc", "-o", "json"))
    for pod in rc_pods():
        ref, = pod["metadata"]["ownerReferences"]
        assert (ref["apiVersion"], ref["kind"], ref["name"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) \
            == ("v1", "ReplicationController", "web", rc["metadata"]["uid"], True, True)

    assert "scaled" in kubectl(cluster, "scale", "rc/web", "-n", "rc", "--replicas=1")
    run_sync(wait_for(lambda: settled(1), timeout=60, message="the RC scaled down to 1"))
    header, row = kubectl(cluster, "get", "rc", "web", "-n", "rc").splitlines()
    assert header.split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] and row.split()[:4] == ["web", "1", "1", "1"]
    assert kubectl(cluster, "get", "rc", "web", "-n", "rc", "-o", "wide").splitlines()[1].split()[-1] == "app=web"
    events = kubectl(cluster, "get", "events", "-n", "rc", "--field-selector", "involvedObject.kind=ReplicationController")
    assert "SuccessfulCreate" in events and "SuccessfulDelete" in events
    problems = run_sync(strict_problems_of_up(cluster.state))
    assert problems == [], "\n".join(problems)

    bad = RC_MANIFEST.split("---")[1].replace("name: web,", "name: bad,").replace("selector: {app: web}",
                                                                                    "selector: {app: other}")
    refused = subprocess.run(["kubectl", "--server", cluster.server, "create", "-f", "-"], input=bad,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "spec.template.metadata.labels" in refused.stderr, refused.stderr
    assert "bad" not in kubectl(cluster, "get", "rc", "-n", "rc", "-o", "name")

    kubectl(cluster, "delete", "rc", "web", "-n", "rc")
    run_sync(wait_for(lambda: not rc_pods(), timeout=60, message="the RC's pods garbage-collected"))
