"""NodeRestriction at the gateway (kube-apiserver's plugin of that name): node-1's client certificate
(``system:node:node-1`` in ``system:nodes``, as ``kl up --secure`` issues) may write its own pod's
status, its own Node and its own Lease; writing node-2's pod, Node or Lease, deleting or evicting
node-2's pod, creating a pod that is not its mirror pod and changing a pod's spec are each 403 with
kube's Status, and etcd's revision shows nothing was written.

One HTTPS gateway (--client-ca-file, RBAC) from tests/security/test_gateway_x509_rbac.py; RBAC is
widened for system:nodes to update, bind and delete collections of pods so that those denials are
NodeRestriction's, not RBAC's.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kubelite.auth import pki
from kubelite.testing.waiting import wait_for
from tests.security.test_gateway_x509_rbac import KUBECTL, RBAC, Secure, assert_status, revision
from tests.security.test_gateway_x509_rbac import secure as secure  # noqa: F401 - the gateway fixture

MERGE = "application/merge-patch+json"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
PODS = "/api/v1/namespaces/default/pods"


async def call(context: ssl.SSLContext, secure: Secure, method: str, path: str, body: Any = None, *,
               content_type: str = "application/json") -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(ssl=context)
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.request(method, secure.url + path, data=data, headers={"Content-Type": content_type},
                                timeout=aiohttp.ClientTimeout(total=15)) as response:
            return response.status, json.loads(await response.text())


def pod(name: str, node: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **metadata},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


def lease(name: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}}


async def test_node_credentials_touch_only_their_own_node(secure: Secure, tmp_path: Path) -> None:
    admin = pki.read_pair(tmp_path / "pki", "admin")
    assert admin is not None
    node1 = secure.user("system:node:node-1", "system:nodes")
    as_admin, as_node1 = secure.context(admin, "admin"), secure.context(node1, "node-1")
    uids: dict[tuple[str, str], str] = {}
    for path, doc in (("/api/v1/nodes", {"metadata": {"name": "node-1"}}),
                      ("/api/v1/nodes", {"metadata": {"name": "node-2"}}),
                      (PODS, pod("p1", "node-1")), (PODS, pod("p2", "node-2")),
                      ("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "default"}}),
                      (LEASES, lease("node-1")), (LEASES, lease("node-2")),
                      (f"{RBAC}/clusterroles", {"metadata": {"name": "test:pod-writer"}, "rules": [
                          {"apiGroups": [""], "resources": ["pods"], "verbs": ["update", "patch", "deletecollection"]},
                          {"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]}]}),
                      (f"{RBAC}/clusterrolebindings", {
                          "metadata": {"name": "test:pod-writer"},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                      "name": "test:pod-writer"},
                          "subjects": [{"kind": "Group", "name": "system:nodes",
                                        "apiGroup": "rbac.authorization.k8s.io"}]})):
        status, created = await call(as_admin, secure, "POST", path, doc)
        assert status == 201, created
        uids[path, created["metadata"]["name"]] = created["metadata"]["uid"]

    # RBAC now lets nodes update pods: the spec change is refused by NodeRestriction
    async def spec_change_refused_by_admission() -> bool:
        status, doc = await call(as_node1, secure, "PATCH", f"{PODS}/p1", {"metadata": {"labels": {"x": "y"}}},
                                 content_type=MERGE)
        assert status == 403, doc
        return "can only create and delete mirror pods" in doc["message"]
    await wait_for(spec_change_refused_by_admission, 30, 0.1, message="RBAC sees the test binding")

    before = await revision(secure.store)
    denials: list[tuple[str, str, Any, str, str]] = [
        # (method, path, body, content type, kube's reason after 'is forbidden: ')
        ("PATCH", f"{PODS}/p2/status", {"status": {"phase": "Running"}}, MERGE,
         'pods "p2" is forbidden: node "node-1" can only update pod status for pods with spec.nodeName set to itself'),
        ("PATCH", f"{PODS}/p1/status", {"metadata": {"labels": {"x": "y"}}}, MERGE,
         'pods "p1" is forbidden: node "node-1" cannot update labels through pod status'),
        ("PUT", f"{PODS}/p1", pod("p1", "node-1"), "application/json",
         'pods "p1" is forbidden: unexpected operation "UPDATE", node "node-1" can only create and delete mirror pods'),
        ("DELETE", f"{PODS}/p2", None, "application/json",
         'pods "p2" is forbidden: node "node-1" can only delete pods with spec.nodeName set to itself'),
        ("DELETE", PODS, None, "application/json",
         'pods is forbidden: node "node-1" can only delete pods with spec.nodeName set to itself'),
        ("POST", f"{PODS}/p2/eviction", {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p2"}},
         "application/json", 'pods "p2" is forbidden: node node-1 can only evict pods with spec.nodeName set to itself'),
        ("POST", f"{PODS}/p2/binding", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p2"},
                                         "target": {"kind": "Node", "name": "node-1"}}, "application/json",
         'pods "p2" is forbidden: unexpected pod subresource "binding", only \'status\' and \'eviction\' are allowed'),
        ("POST", PODS, pod("p3", "node-1"), "application/json",
         'pods "p3" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "node-1" can '
         "only create mirror pods"),
        ("PATCH", "/api/v1/nodes/node-2/status", {"status": {"capacity": {"cpu": "64"}}}, MERGE,
         'nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"'),
        ("DELETE", "/api/v1/nodes/node-2", None, "application/json",
         'nodes "node-2" is forbidden: node "node-1" is not allowed to modify node "node-2"'),
        ("PATCH", "/api/v1/nodes/node-1", {"metadata": {"labels": {"node-restriction.kubernetes.io/trusted": "y"}}},
         MERGE, 'nodes "node-1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/trusted'),
        ("PATCH", "/api/v1/nodes/node-1", {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}, MERGE,
         'nodes "node-1" is forbidden: node "node-1" is not allowed to modify taints'),
        ("PATCH", f"{LEASES}/node-2", {"spec": {"holderIdentity": "node-1"}}, MERGE,
         'leases.coordination.k8s.io "node-2" is forbidden: can only access node lease with the same name as the '
         "requesting node"),
        ("PATCH", f"{LEASES}/node-2?fieldManager=kubelet", yaml.safe_dump(lease("node-2")),
         "application/apply-patch+yaml", 'leases.coordination.k8s.io "node-2" is forbidden: can only access node '
         "lease with the same name as the requesting node"),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease("node-1"), "application/json",
         'leases.coordination.k8s.io "node-1" is forbidden: can only access leases in the "kube-node-lease" system '
         "namespace"),
        ("POST", "/api/v1/namespaces/default/serviceaccounts/default/token",
         {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p2"}}}, "application/json",
         'serviceaccounts "default" is forbidden: node requested token with a pod binding without a uid'),
        ("POST", "/api/v1/namespaces/default/serviceaccounts/default/token",
         {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p2", "uid": uids[PODS, "p2"]}}},
         "application/json",
         'serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node'),
    ]
    for method, path, body, content_type, message in denials:
        status, doc = await call(as_node1, secure, method, path, body, content_type=content_type)
        assert status == 403, (method, path, doc)
        assert_status(doc, 403, "Forbidden")
        assert doc["message"] == message, (method, path, doc)
        assert doc["details"]["kind"] in ("pods", "nodes", "leases", "serviceaccounts"), doc
    # the real kubectl shows kube's words
    done = subprocess.run([KUBECTL, "delete", "pod", "p2", "-n", "default", "--wait=false"], capture_output=True,
                          text=True, timeout=60, env={"KUBECONFIG": str(secure.kubeconfig(node1, "node-1")),
                                                      "HOME": str(tmp_path)})
    assert done.returncode != 0
    assert 'node "node-1" can only delete pods with spec.nodeName set to itself' in done.stderr, done.stderr
    assert await revision(secure.store) == before  # nothing written by any denial

    # its own: pod status, Node (status, kubelet labels), Lease (merge patch and server-side apply)
    for method, path, body, content_type in (
            ("PATCH", f"{PODS}/p1/status", {"status": {"phase": "Running"}}, MERGE),
            # annotations through pods/status (the agent's host ports): kube keeps them, NodeRestriction allows it
            ("PATCH", f"{PODS}/p1/status", {"metadata": {"annotations": {"kubelite.io/host-ports": "[]"}}}, MERGE),
            ("PATCH", "/api/v1/nodes/node-1/status", {"status": {"capacity": {"cpu": "4"}}}, MERGE),
            ("PATCH", "/api/v1/nodes/node-1", {"metadata": {"labels": {"kubernetes.io/hostname": "node-1"}}}, MERGE),
            ("PATCH", f"{LEASES}/node-1", {"spec": {"leaseDurationSeconds": 41}}, MERGE),
            ("PATCH", f"{LEASES}/node-1?fieldManager=kubelet&force=true", yaml.safe_dump(lease("node-1")),
             "application/apply-patch+yaml")):
        status, doc = await call(as_node1, secure, method, path, body, content_type=content_type)
        assert status == 200, (method, path, doc)
    status, doc = await call(as_admin, secure, "GET", f"{PODS}/p1")
    assert doc["status"]["phase"] == "Running" and doc["metadata"]["annotations"] == {"kubelite.io/host-ports": "[]"}
    status, doc = await call(as_admin, secure, "GET", f"{PODS}/p2")
    assert status == 200 and doc["status"].get("phase") != "Running" and "deletionTimestamp" not in doc["metadata"]
    status, doc = await call(as_admin, secure, "GET", "/api/v1/nodes/node-2")
    assert not (doc.get("status") or {}).get("capacity") and not (doc.get("spec") or {}).get("taints"), doc
    # and it may delete its own pod (made conditional on the uid admission decided on)
    status, doc = await call(as_node1, secure, "DELETE", f"{PODS}/p1")
    assert status == 200, doc

    # kubelite's one deviation: a node drops the local-path finalizer of its own deleted volume (agent/localpath.py)
    for node in ("node-1", "node-2"):
        status, doc = await call(as_admin, secure, "POST", "/api/v1/persistentvolumes", local_volume(node))
        assert status == 201, doc
        status, doc = await call(as_admin, secure, "DELETE", f"/api/v1/persistentvolumes/pv-{node}")
        assert status == 200 and doc["metadata"].get("deletionTimestamp"), doc  # Terminating: the finalizer holds
    before = await revision(secure.store)
    for name, change in (("pv-node-2", {"metadata": {"finalizers": None}}),
                         ("pv-node-1", {"metadata": {"finalizers": None, "labels": {"x": "y"}}}),
                         ("pv-node-1", {"spec": {"persistentVolumeReclaimPolicy": "Retain"}})):
        status, current = await call(as_admin, secure, "GET", f"/api/v1/persistentvolumes/{name}")
        wanted = {**current, "metadata": {**current["metadata"], **change.get("metadata", {})},
                  "spec": {**current["spec"], **change.get("spec", {})}}
        status, doc = await call(as_node1, secure, "PUT", f"/api/v1/persistentvolumes/{name}", wanted)
        assert status == 403, doc
        assert doc["details"]["kind"] == "persistentvolumes" and doc["message"].startswith(
            f'persistentvolumes "{name}" is forbidden: node "node-1" may only'), doc
    status, doc = await call(as_node1, secure, "POST", "/api/v1/persistentvolumes", local_volume("node-1", "pv-new"))
    assert status == 403, doc
    assert await revision(secure.store) == before
    status, current = await call(as_admin, secure, "GET", "/api/v1/persistentvolumes/pv-node-1")
    current["metadata"]["finalizers"] = None
    status, doc = await call(as_node1, secure, "PUT", "/api/v1/persistentvolumes/pv-node-1", current)
    assert status == 200, doc
    assert (await call(as_admin, secure, "GET", "/api/v1/persistentvolumes/pv-node-1"))[0] == 404  # gone with it
    assert (await call(as_admin, secure, "GET", "/api/v1/persistentvolumes/pv-node-2"))[0] == 200


def local_volume(node: str, name: str | None = None) -> dict[str, Any]:
    """A volume kubelite's local-path provisioner made on ``node`` (controllers/localpath_plan.py's shape)."""
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
        "name": name or f"pv-{node}", "annotations": {"pv.kubernetes.io/provisioned-by": "kubelite.io/local-path"},
        "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer"]},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/tmp/local-path/{node}"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}
