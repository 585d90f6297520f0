"""The real kubectl (v1.32) against a test gateway."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kubelite.api.apps import Deployment, DeploymentStatus
from kubelite.api.core import Event, Node, ObjectReference, PodStatus
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import DEPLOYMENTS, EVENTS, NODES, PODS, REPLICASETS
from kubelite.api.parse import parse_object
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from tests.factories import make_pod
from tests.gateway.conftest import Kubectl
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: kubelite/demo:latest
        imagePullPolicy: Never
        ports:
        - containerPort: 8080
        env:
        - {name: GREETING, value: hello}
        resources:
          requests: {cpu: 100m, memory: 32Mi}
        readinessProbe:
          httpGet: {path: /, port: 8080}
"""


def store_of(gateway: Gateway) -> Store:
    assert gateway.state is not None
    return gateway.state.store


async def seed_cluster(store: Store) -> None:
    """A ready node, a running bound pod, a ReplicaSet and an event, written as the other components would."""
    node = Node.model_validate({
        "metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "nodeInfo": {"kubeletVersion": "v1.32.0-kubelite"}},
    })
    await store.create(NODES, node)
    pod = make_pod("api-1", node="node-1", app="api")
    created = await store.create(PODS, pod)
    created.status = PodStatus.model_validate({"phase": "Running", "podIP": "172.17.0.5", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "c", "ready": True, "restartCount": 2,
                                          "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                                          "lastState": {"terminated": {"exitCode": 1, "finishedAt":
                                                        (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}}}]})
    await store.update(PODS, created, subresource="status")
    rs = parse_object({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "api-abc", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    })
    await store.create(REPLICASETS, rs)
    event = Event(metadata=ObjectMeta(name="api-1.1", namespace="default"),
                  involved_object=ObjectReference(kind="Pod", name="api-1", namespace="default", uid=created.metadata.uid),
                  reason="Started", message="Started container c", type="Normal", count=1,
                  first_timestamp=datetime.now(UTC), last_timestamp=datetime.now(UTC))
    await store.create(EVENTS, event)


async def test_get_in_every_format(kubectl: Kubectl, gateway: Gateway) -> None:
    await seed_cluster(store_of(gateway))
    nodes = (await kubectl("get", "nodes")).stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[:3] == ["node-1", "Ready", "worker"] and nodes[1].split()[-1] == "v1.32.0-kubelite"
    wide = (await kubectl("get", "pods", "-o", "wide")).stdout.splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert wide[1].split()[:5] == ["api-1", "1/1", "Running", "2", "(5m"]
    assert "172.17.0.5" in wide[1] and "node-1" in wide[1]
    rs = (await kubectl("get", "rs")).stdout.splitlines()
    assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] and rs[1].split()[:4] == ["api-abc", "1", "0", "0"]
    events = (await kubectl("get", "events")).stdout
    assert "LAST SEEN" in events and "pod/api-1" in events and "Started container c" in events
    as_yaml = yaml.safe_load((await kubectl("get", "pod", "api-1", "-o", "yaml")).stdout)
    assert as_yaml["kind"] == "Pod" and as_yaml["spec"]["nodeName"] == "node-1"
    as_json = json.loads((await kubectl("get", "pods", "-o", "json")).stdout)
    assert as_json["kind"] == "List" and [i["metadata"]["name"] for i in as_json["items"]] == ["api-1"]
    labelled = (await kubectl("get", "pods", "-l", "app=nothing")).stderr
    assert "No resources found" in labelled
    everywhere = (await kubectl("get", "pods", "-A")).stdout.splitlines()
    assert everywhere[0].split()[0] == "NAMESPACE" and everywhere[1].split()[:2] == ["default", "api-1"]
    names = (await kubectl("get", "deploy,rs,po", "-o", "name")).stdout.split()
    assert names == ["replicaset.apps/api-abc", "pod/api-1"]


async def test_apply_created_unchanged_configured(kubectl: Kubectl, tmp_path: Path, gateway: Gateway) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(MANIFEST)
    assert (await kubectl("apply", "-f", str(manifest))).stdout.strip() == "deployment.apps/web created"
    assert (await kubectl("apply", "-f", str(manifest))).stdout.strip() == "deployment.apps/web unchanged"
    manifest.write_text(MANIFEST.replace("value: hello", "value: bonjour").replace("replicas: 2", "replicas: 3"))
    result = await kubectl("apply", "-f", str(manifest))
    assert result.stdout.strip() == "deployment.apps/web configured", result.stderr
    assert (await kubectl("apply", "-f", str(manifest))).stdout.strip() == "deployment.apps/web unchanged"
    stored = await store_of(gateway).get(DEPLOYMENTS, "web", "default")
    assert stored.spec.replicas == 3 and stored.spec.template.spec.containers[0].env[0].value == "bonjour"
    # removing a field from the manifest removes it from the object (three-way merge)
    manifest.write_text(MANIFEST.replace("        env:\n        - {name: GREETING, value: hello}\n", ""))
    assert (await kubectl("apply", "-f", str(manifest))).stdout.strip() == "deployment.apps/web configured"
    stored = await store_of(gateway).get(DEPLOYMENTS, "web", "default")
    assert stored.spec.template.spec.containers[0].env is None and stored.spec.replicas == 2


async def test_apply_validation_is_server_side(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(MANIFEST.replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n"))
    result = await kubectl("apply", "-f", str(manifest), check=False)
    assert result.returncode != 0 and 'unknown field "spec.replicaz"' in result.stderr
    warned = await kubectl("apply", "--validate=warn", "-f", str(manifest))
    assert "deployment.apps/web created" in warned.stdout and 'unknown field "spec.replicaz"' in warned.stderr


async def test_scale_describe_and_rollout_status(kubectl: Kubectl, gateway: Gateway) -> None:
    await kubectl("apply", "-f", "-", stdin=MANIFEST)
    assert "deployment.apps/web scaled" in (await kubectl("scale", "deploy/web", "--replicas=4")).stdout
    store = store_of(gateway)
    assert (await store.get(DEPLOYMENTS, "web", "default")).spec.replicas == 4
    described = (await kubectl("describe", "deployment", "web")).stdout
    assert "4 desired" in described, described
    assert "GREETING:" in described and "hello" in described, described
    assert "8080/TCP" in described and "http-get http://:8080/ delay=0s timeout=1s period=10s" in described, described
    rollout = asyncio.create_task(kubectl("rollout", "status", "deployment/web", "--timeout=20s"))
    await asyncio.sleep(0.5)
    assert not rollout.done()

    def rolled_out(deploy: Deployment) -> Deployment:
        deploy.status = DeploymentStatus(observed_generation=deploy.metadata.generation, replicas=4,
                                         updated_replicas=4, ready_replicas=4, available_replicas=4)
        return deploy

    await store.guaranteed_update(DEPLOYMENTS, "web", "default", rolled_out, subresource="status")
    assert 'deployment "web" successfully rolled out' in (await rollout).stdout
    ready = (await kubectl("get", "deploy", "web")).stdout.splitlines()[1].split()
    assert ready[:4] == ["web", "4/4", "4", "4"]


async def test_describe_pod_and_node_with_events(kubectl: Kubectl, gateway: Gateway) -> None:
    await seed_cluster(store_of(gateway))
    pod = (await kubectl("describe", "pod", "api-1")).stdout
    assert "Node:" in pod and "node-1" in pod and "Started container c" in pod and "Running" in pod
    node = (await kubectl("describe", "node", "node-1")).stdout
    assert "api-1" in node and "Ready" in node


async def test_delete_waits_until_gone(kubectl: Kubectl, gateway: Gateway) -> None:
    store = store_of(gateway)
    await store.create(PODS, make_pod("bound", node="node-1"))

    async def agent_finishes() -> None:
        await wait_for(lambda: _terminating(store), timeout=10, message="deletionTimestamp set")
        await asyncio.sleep(0.5)
        await store.delete(PODS, "bound", "default", grace_period_seconds=0)

    finisher = asyncio.create_task(agent_finishes())
    result = await kubectl("delete", "pod", "bound", "--timeout=20s")
    assert 'pod "bound" deleted' in result.stdout
    await finisher
    assert "No resources found" in (await kubectl("get", "pods")).stderr


async def _terminating(store: Store) -> bool:
    pod = await store.get(PODS, "bound", "default")
    return pod.metadata.deletion_timestamp is not None


async def test_get_watch_sees_a_change(kubectl: Kubectl, gateway: Gateway) -> None:
    await kubectl("apply", "-f", "-", stdin=MANIFEST)
    proc = await kubectl.start("get", "deploy", "-w", "--request-timeout", "0")
    try:
        assert proc.stdout is not None
        header = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert header.split()[:2] == [b"NAME", b"READY"]
        first = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert first.split()[:2] == [b"web", b"0/2"]
        await kubectl("scale", "deploy/web", "--replicas=5")
        changed = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert changed.split()[:2] == [b"web", b"0/5"]
    finally:
        proc.kill()
        await proc.wait()


async def test_kubectl_errors_are_kubernetes_like(kubectl: Kubectl) -> None:
    missing = await kubectl("get", "pod", "nope", check=False)
    assert missing.returncode == 1 and 'Error from server (NotFound): pods "nope" not found' in missing.stderr
    unknown = await kubectl("get", "gizmos", check=False)
    assert unknown.returncode == 1 and "gizmos" in unknown.stderr
    invalid = await kubectl("apply", "-f", "-", stdin=MANIFEST.replace("name: web\n  labels", "name: Web_\n  labels"),
                            check=False)
    assert invalid.returncode == 1 and "Invalid" in invalid.stderr and "metadata.name" in invalid.stderr


async def test_rollout_history_and_undo(kubectl: Kubectl, gateway: Gateway) -> None:
    """ReplicaSets as the deployment controller leaves them (revision annotations, owner references)."""
    await kubectl("apply", "-f", "-", stdin=MANIFEST)
    store = store_of(gateway)

    def annotate(deploy: Deployment) -> Deployment:
        deploy.metadata.annotations = {**(deploy.metadata.annotations or {}), "deployment.kubernetes.io/revision": "2"}
        return deploy

    deploy = await store.guaranteed_update(DEPLOYMENTS, "web", "default", annotate)
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": deploy.metadata.uid,
             "controller": True}
    for revision, image in (("1", "kubelite/demo:old"), ("2", "kubelite/demo:latest")):
        template = deploy.spec.template.to_dict()
        template["metadata"]["labels"]["pod-template-hash"] = f"h{revision}"
        template["spec"]["containers"][0]["image"] = image
        rs = parse_object({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-h{revision}", "namespace": "default", "ownerReferences": [owner],
                         "labels": {"app": "web", "pod-template-hash": f"h{revision}"},
                         "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                     "template": template},
        })
        await store.create(REPLICASETS, rs)
    history = (await kubectl("rollout", "history", "deployment/web")).stdout
    assert history.split()[-4:] == ["1", "<none>", "2", "<none>"]
    undo = await kubectl("rollout", "undo", "deployment/web")
    assert "deployment.apps/web rolled back" in undo.stdout
    rolled = await store.get(DEPLOYMENTS, "web", "default")
    assert rolled.spec.template.spec.containers[0].image == "kubelite/demo:old"
    assert "pod-template-hash" not in (rolled.spec.template.metadata.labels or {})


async def test_a_patch_that_changes_nothing_semantically_is_no_change(kubectl: Kubectl, gateway: Gateway) -> None:
    """kube-apiserver does not write an update whose object decodes and defaults to the stored one:
    kubectl then says "(no change)", and resourceVersion, generation and watchers see nothing."""
    await kubectl("apply", "-f", "-", stdin=MANIFEST)
    store = store_of(gateway)
    before = await store.get(DEPLOYMENTS, "web", "default")
    empties = {"spec": {"paused": False, "minReadySeconds": 0, "template": {"metadata": {"annotations": {}},
               "spec": {"containers": [{"name": "web", "command": [], "resources": {"limits": {}}}]}}}}
    out = await kubectl("patch", "deployment/web", "--type=strategic", "-p", json.dumps(empties))
    assert out.stdout.strip() == "deployment.apps/web patched (no change)"
    quantities = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "resources": {"requests": {"cpu": "0.1", "memory": "32Mi"}}}]}}}}
    out = await kubectl("patch", "deployment/web", "-p", json.dumps(quantities))
    assert out.stdout.strip() == "deployment.apps/web patched (no change)"
    after = await store.get(DEPLOYMENTS, "web", "default")
    assert (after.metadata.resource_version, after.metadata.generation) == (
        before.metadata.resource_version, before.metadata.generation)
    out = await kubectl("patch", "deployment/web", "--type=merge", "-p", '{"spec": {"minReadySeconds": 1}}')
    assert out.stdout.strip() == "deployment.apps/web patched"
    changed = await store.get(DEPLOYMENTS, "web", "default")
    assert changed.metadata.generation == (before.metadata.generation or 0) + 1


LIMITED_POD = """apiVersion: v1
kind: Pod
metadata: {name: limited, namespace: default}
spec:
  initContainers: [{name: init, image: kubelite/demo:latest, resources: {limits: {memory: 16Mi}}}]
  containers:
  - name: c
    image: kubelite/demo:latest
    resources: {limits: {cpu: 250m, memory: 32Mi}, requests: {cpu: 100m}}
"""


async def test_a_pods_limits_stand_in_for_its_missing_requests(kubectl: Kubectl, gateway: Gateway) -> None:
    """SetDefaults_Pod: kubectl shows the stored requests, each missing one being its limit; a later
    apply of the same manifest is unchanged (the defaults are not a diff) and an edit elsewhere is allowed."""
    assert "pod/limited created" in (await kubectl("apply", "-f", "-", stdin=LIMITED_POD)).stdout
    spec = json.loads((await kubectl("get", "pod", "limited", "-o", "jsonpath={.spec}")).stdout)
    assert spec["containers"][0]["resources"]["requests"] == {"cpu": "100m", "memory": "32Mi"}
    assert spec["initContainers"][0]["resources"]["requests"] == {"memory": "16Mi"}
    qos = (await kubectl("get", "pod", "limited", "-o", "jsonpath={.status.qosClass}")).stdout
    assert qos == "Burstable"
    assert "pod/limited unchanged" in (await kubectl("apply", "-f", "-", stdin=LIMITED_POD)).stdout
    relabelled = LIMITED_POD.replace("namespace: default}", "namespace: default, labels: {tier: web}}")
    assert "pod/limited configured" in (await kubectl("apply", "-f", "-", stdin=relabelled)).stdout


GATED_POD = """apiVersion: v1
kind: Pod
metadata: {name: gated, namespace: default}
spec:
  schedulingGates: [{name: example.com/quota}]
  nodeSelector: {disk: ssd}
  containers: [{name: c, image: kubelite/demo:latest}]
"""


async def test_scheduling_gates_through_kubectl(kubectl: Kubectl, gateway: Gateway) -> None:
    """kubectl shows a gated pod as SchedulingGated; gates may only be removed, and while any is left
    the nodeSelector may only grow; a gated pod may not name its node."""
    assert "pod/gated created" in (await kubectl("apply", "-f", "-", stdin=GATED_POD)).stdout
    shown = (await kubectl("get", "pod", "gated", "--no-headers")).stdout.split()
    assert shown[2] == "SchedulingGated", shown
    status = json.loads((await kubectl("get", "pod", "gated", "-o", "jsonpath={.status}")).stdout)
    assert status["phase"] == "Pending" and status["qosClass"] == "BestEffort"
    assert status["conditions"][0]["reason"] == "SchedulingGated"

    added = await kubectl("patch", "pod", "gated", "--type=json",
                          "-p", '[{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "more"}}]',
                          check=False)
    assert added.returncode == 1 and "spec.schedulingGates[1].name: Forbidden: only deletion is allowed, " \
                                     "but found new scheduling gate 'more'" in added.stderr, added.stderr
    changed = await kubectl("patch", "pod", "gated", "-p", '{"spec": {"nodeSelector": {"disk": "hdd"}}}', check=False)
    assert changed.returncode == 1 and "spec.nodeSelector: Invalid value: " in changed.stderr, changed.stderr
    assert "only additions to spec.nodeSelector are allowed (no mutations or deletions)" in changed.stderr
    await kubectl("patch", "pod", "gated", "-p", '{"spec": {"nodeSelector": {"zone": "a"}}}')
    await kubectl("patch", "pod", "gated", "--type=json", "-p", '[{"op": "remove", "path": "/spec/schedulingGates"}]')
    stored = await store_of(gateway).get(PODS, "gated", "default")
    assert not stored.spec.scheduling_gates and stored.spec.node_selector == {"disk": "ssd", "zone": "a"}
    # the condition stays until the scheduler binds it (or finds it unschedulable)
    assert stored.status is not None and stored.status.condition("PodScheduled").reason == "SchedulingGated"
    frozen = await kubectl("patch", "pod", "gated", "-p", '{"spec": {"nodeSelector": {"zone": "b"}}}', check=False)
    assert frozen.returncode == 1 and "pod updates may not change fields" in frozen.stderr, frozen.stderr

    bad = await kubectl("apply", "-f", "-", check=False, stdin=GATED_POD.replace("name: gated,", "name: named,")
                        .replace("  nodeSelector: {disk: ssd}\n", "  nodeName: n1\n"))
    assert bad.returncode == 1 and "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been " \
                                   "cleared" in bad.stderr, bad.stderr
    dup = await kubectl("apply", "-f", "-", check=False, stdin=GATED_POD.replace("name: gated,", "name: dup,").replace(
        "[{name: example.com/quota}]", "[{name: a}, {name: a}, {name: -bad}]"))
    assert dup.returncode == 1 and 'spec.schedulingGates[1]: Duplicate value: "a"' in dup.stderr, dup.stderr
    assert "spec.schedulingGates[2]: Invalid value: \"-bad\"" in dup.stderr, dup.stderr
