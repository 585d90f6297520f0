"""DaemonSets and StatefulSets through the real kubectl 1.32: a gateway, the controller manager and
fake kubelets on a real etcd. `kubectl rollout status/history/undo` for both kinds, a DaemonSet on
a node added later, a StatefulSet started in order that keeps a pod's name across a delete."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.api.resources import PODS
from kubelite.etcd.ops import range_
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.gateway.conftest import KUBECTL, Kubectl, gateway_config, stop_or_explain
from tests.helpers import wait_for

CONTROLLERS = ("scheduler", "daemonset", "statefulset", "garbagecollector")

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, image: "demo:1"}]
"""

STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, image: "demo:1"}]
"""


@pytest.fixture
async def kubectl(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Kubectl]:
    if not Path(KUBECTL).exists() and shutil.which("kubectl") is None:
        pytest.fail(f"kubectl is not installed at {KUBECTL}", pytrace=False)
    gateway = Gateway(gateway_config(etcd))
    await gateway.start()
    home = tmp_path / "kubectl-home"
    home.mkdir()
    try:
        yield Kubectl(gateway.url, home)
    finally:
        await stop_or_explain(gateway)


async def images_by_pod(store: Store, app: str) -> dict[str, str]:
    listed = (await store.list(PODS, "default")).items
    return {p.name: p.spec.containers[0].image for p in listed
            if (p.metadata.labels or {}).get("app") == app and p.metadata.deletion_timestamp is None}


async def test_daemonset_every_node_new_node_rollout_status_history_undo(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet, kubectl: Kubectl,
) -> None:
    await make_kubelet("n1")
    await make_kubelet("n2")
    await make_manager(controllers=CONTROLLERS)
    await kubectl("apply", "-f", "-", stdin=DAEMONSET)
    status = await kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=70)
    assert 'daemon set "agent" successfully rolled out' in status.stdout

    async def on_nodes(expected: set[str]) -> bool:
        got = await kubectl("get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}")
        return set(got.stdout.split()) == expected and len(got.stdout.split()) == len(expected)
    await wait_for(lambda: on_nodes({"n1", "n2"}), 15)
    await make_kubelet("n3")
    await wait_for(lambda: on_nodes({"n1", "n2", "n3"}), 20)
    shown = (await kubectl("get", "ds", "agent", "-o", "json")).stdout
    assert json.loads(shown)["spec"]["updateStrategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}

    await kubectl("set", "image", "ds/agent", "app=demo:2")
    status = await kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=70)
    assert "successfully rolled out" in status.stdout
    assert set((await images_by_pod(store, "agent")).values()) == {"demo:2"}
    history = (await kubectl("rollout", "history", "ds/agent")).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"], history
    undone = await kubectl("rollout", "undo", "ds/agent")
    assert "rolled back" in undone.stdout
    status = await kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=70)
    assert "successfully rolled out" in status.stdout

    async def back() -> bool:
        images = await images_by_pod(store, "agent")
        return len(images) == 3 and set(images.values()) == {"demo:1"}
    await wait_for(back, 30)
    history = (await kubectl("rollout", "history", "ds/agent")).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"], history
    listed = (await kubectl("get", "all", "-o", "name")).stdout.split()
    assert "daemonset.apps/agent" in listed
    table = (await kubectl("get", "ds", "agent")).stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR",
                                "AGE"]
    assert table[1].split()[:7] == ["agent", "3", "3", "3", "3", "3", "<none>"]
    revisions = (await kubectl("get", "controllerrevisions")).stdout.splitlines()
    assert revisions[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert {tuple(line.split()[1:3]) for line in revisions[1:]} == {("daemonset.apps/agent", "2"),
                                                                    ("daemonset.apps/agent", "3")}


async def test_statefulset_ordered_start_stable_names_rollout_undo(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet, kubectl: Kubectl,
) -> None:
    await make_kubelet("n1")
    await make_manager(controllers=CONTROLLERS)
    await kubectl("apply", "-f", "-", stdin=STATEFULSET)
    status = await kubectl("rollout", "status", "sts/db", "--timeout=60s", timeout=70)
    # partition defaults to 0, so kubectl reports a partitioned roll out (as against kube-apiserver)
    assert "partitioned roll out complete: 3 new pods have been updated" in status.stdout, status.stdout
    # each pod's key was created (etcd create_revision) after the previous pod was Ready
    # (its last write, the kubelet's Ready status, comes before the next pod's create)
    revisions = []
    for name in ("db-0", "db-1", "db-2"):
        kv = (await range_(store.client, PODS.key(name, "default"), what="test")).kvs[0]
        revisions.append((kv.create_revision, kv.mod_revision))
    assert revisions[0][1] < revisions[1][0] and revisions[1][1] < revisions[2][0], revisions

    old_uid = (await store.get(PODS, "db-1", "default")).metadata.uid
    await kubectl("delete", "pod", "db-1", "--wait=false")

    async def back_under_its_name() -> bool:
        got = await kubectl("get", "pod", "db-1", "-o", "jsonpath={.metadata.uid} {.status.phase}", check=False)
        parts = got.stdout.split()
        return got.returncode == 0 and len(parts) == 2 and parts[0] != old_uid and parts[1] == "Running"
    await wait_for(back_under_its_name, 30)

    await kubectl("set", "image", "sts/db", "app=demo:2")
    status = await kubectl("rollout", "status", "sts/db", "--timeout=90s", timeout=100)
    assert "partitioned roll out complete: 3 new pods" in status.stdout, status.stdout
    assert await images_by_pod(store, "db") == {"db-0": "demo:2", "db-1": "demo:2", "db-2": "demo:2"}
    await kubectl("rollout", "undo", "sts/db")

    async def undone() -> bool:
        return await images_by_pod(store, "db") == {"db-0": "demo:1", "db-1": "demo:1", "db-2": "demo:1"}
    await wait_for(undone, 60)
    status = await kubectl("rollout", "status", "sts/db", "--timeout=60s", timeout=70)
    assert "complete" in status.stdout
    history = (await kubectl("rollout", "history", "sts/db")).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"], history
    table = (await kubectl("get", "sts", "db")).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"] and table[1].split()[:2] == ["db", "3/3"]
    scaled = await kubectl("scale", "sts/db", "--replicas=2")
    assert "scaled" in scaled.stdout

    async def two_left() -> bool:
        return sorted(await images_by_pod(store, "db")) == ["db-0", "db-1"]  # the highest ordinal went
    await wait_for(two_left, 30)


CLAIMED = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: data, namespace: default}
spec:
  replicas: 2
  serviceName: data
  selector: {matchLabels: {app: data}}
  template:
    metadata: {labels: {app: data}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: app, image: "demo:1"}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
"""


async def test_statefulset_claims_bound_to_local_volumes_pin_their_pods(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet, kubectl: Kubectl,
) -> None:
    await make_kubelet("n1")
    await make_kubelet("n2")
    await make_manager(controllers=(*CONTROLLERS, "localpath"))
    await kubectl("apply", "-f", "-", stdin=CLAIMED)
    await kubectl("rollout", "status", "sts/data", "--timeout=60s", timeout=70)

    async def bound() -> bool:
        got = await kubectl("get", "pvc,pv", "-o", "jsonpath={range .items[*]}{.kind} {.status.phase}{'\\n'}{end}")
        rows = [line.split() for line in got.stdout.splitlines() if line.strip()]
        return sorted(rows) == [["PersistentVolume", "Bound"]] * 2 + [["PersistentVolumeClaim", "Bound"]] * 2
    await wait_for(bound, 30)
    table = (await kubectl("get", "pvc")).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS",
                                "VOLUMEATTRIBUTESCLASS", "AGE"]
    row = table[1].split()
    assert row[0] == "www-data-0" and row[1] == "Bound" and row[2].startswith("pvc-") and row[3:6] == [
        "1Mi", "RWO", "local-path"], row
    classes = (await kubectl("get", "storageclass")).stdout.splitlines()
    assert classes[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION",
                                  "AGE"]
    assert classes[1].split()[:6] == ["local-path", "(default)", "kubelite.io/local-path", "Delete",
                                      "WaitForFirstConsumer", "false"]
    pv_table = (await kubectl("get", "pv")).stdout.splitlines()
    assert pv_table[0].split()[:8] == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM"]
    assert sorted(tuple(line.split()[1:6]) for line in pv_table[1:]) == [
        ("1Mi", "RWO", "Delete", "Bound", "default/www-data-0"), ("1Mi", "RWO", "Delete", "Bound", "default/www-data-1")]
    volumes = json.loads((await kubectl("get", "pv", "-o", "json")).stdout)["items"]
    home = {}
    for pv in volumes:
        term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
        home[pv["spec"]["claimRef"]["name"]] = term["values"][0]
        assert pv["spec"]["storageClassName"] == "local-path" and pv["spec"]["hostPath"]["path"].startswith(
            "/var/lib/kubelite/local-path/pvc-")
    for ordinal in (0, 1):
        pod = await store.get(PODS, f"data-{ordinal}", "default")
        assert pod.spec.node_name == home[f"www-data-{ordinal}"]
    # the pods come back where their data is, however many times they are deleted
    for _ in range(3):
        await kubectl("delete", "pod", "data-0", "data-1", "--wait=false")

        async def back_home() -> bool:
            pods = {p.name: p for p in (await store.list(PODS, "default")).items
                    if p.metadata.deletion_timestamp is None and p.spec.node_name}
            return all(name in pods and pods[name].spec.node_name == home[f"www-{name}"]
                       for name in ("data-0", "data-1"))
        await wait_for(back_home, 30)
    await kubectl("delete", "sts", "data")
    await kubectl("delete", "pvc", "www-data-0", "www-data-1")

    async def volumes_deleted() -> bool:
        # reclaimPolicy Delete: Released and deleted, held by the provisioner's finalizer until the
        # agent of their node removed the directory (fake kubelets have none: tests/agent/test_localpath_reclaim.py)
        listed = json.loads((await kubectl("get", "pv", "-o", "json")).stdout)["items"]
        return len(listed) == 2 and all(
            pv["status"].get("phase") == "Released" and pv["metadata"].get("deletionTimestamp")
            and pv["metadata"].get("finalizers") == ["external-provisioner.volume.kubernetes.io/finalizer"]
            for pv in listed)
    await wait_for(volumes_deleted, 30)
