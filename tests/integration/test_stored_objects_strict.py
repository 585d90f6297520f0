"""A whole `kl up --runtime sim` cluster through the main flows, then every object in etcd validates strictly.

The suite-level check of "every writer writes Kubernetes JSON": the gateway for
users, the agents (Node, node Lease, pod status), the controllers (ReplicaSets,
pods, Deployment status, scheduling, node lifecycle taints), the event recorder
and the leader election all leave objects behind; each must be one kube-apiserver
accepts with ``fieldValidation=Strict`` (tests/strict_etcd.py). The cluster's
processes inherit ``KUBELITE_STRICT_FIELDS=1`` from tests/conftest.py, so a
component writing a field Kubernetes lacks fails that write instead of storing it.

It also pins case 13 (kubernetes#52400): ``kubectl taint nodes`` works on nodes
the agents registered, and only an empty key with ``operator: Exists`` tolerates
every taint.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.cluster import KlUp, run_sync
from tests.helpers import wait_for
from tests.strict_etcd import strict_problems_of_up

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
NS = "strict"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("strict") / "data", ["--runtime", "sim", "--nodes", "2"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
    finally:
        up.stop()
        up.kill_leftovers()


def kubectl(cluster: KlUp, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["kubectl", "--server", cluster.server, "--request-timeout=20s", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def deployment(version: str) -> str:
    doc = yaml.safe_load((REPO / "examples" / "web.yaml").read_text())
    doc["metadata"].update(name="web", namespace=NS)
    doc["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "VERSION", "value": version}]
    return yaml.safe_dump(doc)


def pod(name: str, toleration: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"tolerations": [toleration], "containers": [{"name": "app", "image": "example/agent:1"}]}}


def get(cluster: KlUp, *args: str) -> Any:
    return json.loads(kubectl(cluster, "get", "-o", "json", *args).stdout)


def test_main_flows_leave_only_strict_kubernetes_objects_in_etcd(cluster: KlUp) -> None:
    kubectl(cluster, "create", "namespace", NS, ok=False)  # protobuf bodies are another issue's: fall back to apply
    kubectl(cluster, "apply", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")

    # a deployment rolled out, rolled forward, scaled and rolled back (controllers + agents + events)
    kubectl(cluster, "apply", "-f", "-", stdin=deployment("v1"))
    kubectl(cluster, "-n", NS, "rollout", "status", "deployment/web", "--timeout=90s")
    kubectl(cluster, "apply", "-f", "-", stdin=deployment("v2"))
    kubectl(cluster, "-n", NS, "rollout", "status", "deployment/web", "--timeout=90s")
    kubectl(cluster, "-n", NS, "scale", "deployment/web", "--replicas=3")
    kubectl(cluster, "-n", NS, "rollout", "undo", "deployment/web")
    kubectl(cluster, "-n", NS, "rollout", "status", "deployment/web", "--timeout=90s")

    # case 13: kubectl taint on agent-registered nodes, and toleration matching
    taint = kubectl(cluster, "taint", "nodes", "--all", "strict-dedicated=yes:NoSchedule", ok=False)
    assert taint.returncode == 0, f"kubectl taint refused: {taint.stderr}"
    nodes = get(cluster, "nodes")["items"]
    assert all({"key": "strict-dedicated", "value": "yes", "effect": "NoSchedule"} in n["spec"]["taints"]
               for n in nodes), nodes
    assert all(n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0 for n in nodes)
    pods = [pod("tolerate-all", {"operator": "Exists"}),
            pod("exact-key", {"key": "strict-dedicated", "operator": "Exists", "effect": "NoSchedule"}),
            pod("literal-key", {"key": "key", "operator": "Exists"}),
            pod("wrong-effect", {"operator": "Exists", "effect": "NoExecute"})]
    kubectl(cluster, "apply", "-f", "-", stdin="---\n".join(yaml.safe_dump(p) for p in pods))

    def scheduled(name: str) -> str:
        return str(get(cluster, "-n", NS, "pod", name)["spec"].get("nodeName") or "")

    def unschedulable_message(name: str) -> str:
        conditions = get(cluster, "-n", NS, "pod", name).get("status", {}).get("conditions") or []
        return next((c.get("message", "") for c in conditions if c["type"] == "PodScheduled"
                     and c["status"] == "False"), "")

    run_sync(wait_for(lambda: scheduled("tolerate-all") and scheduled("exact-key"), timeout=60,
                      message="the tolerating pods to be scheduled"))
    for name in ("literal-key", "wrong-effect"):
        message = run_sync(wait_for(lambda n=name: unschedulable_message(n), timeout=60,  # type: ignore[misc]
                                    message=f"{name} to be reported unschedulable"))
        assert "untolerated taint {strict-dedicated: yes}" in message and scheduled(name) == "", message
    kubectl(cluster, "taint", "nodes", "--all", "strict-dedicated=yes:NoSchedule-")
    kubectl(cluster, "cordon", nodes[0]["metadata"]["name"])
    kubectl(cluster, "uncordon", nodes[0]["metadata"]["name"])
    kubectl(cluster, "label", "node", nodes[0]["metadata"]["name"], "strict=yes")
    kubectl(cluster, "-n", NS, "delete", "pod", "literal-key", "--wait=true", "--timeout=60s")

    problems = run_sync(strict_problems_of_up(cluster.state))
    assert problems == [], "\n".join(problems)
    logs = "".join(p.read_text(errors="replace") for p in (cluster.data_dir / "logs").glob("*.log"))
    assert 'unknown field "' not in logs and "dropped fields Kubernetes does not have" not in logs
