"""The Node authorizer (kubelite.gateway.nodeauthz): node-1's certificate may get the Secrets,
ConfigMaps, claims and volumes that pods bound to node-1 use, and nothing else of those kinds —
node-2's pod's Secret and any list are kube's 403, worded as kube's, and a SubjectAccessReview says the
same. The answer follows the pods at once: when node-1's pod goes, so does its Secret's access.
One HTTPS gateway with RBAC (tests/security/test_gateway_x509_rbac.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubelite.auth import pki
from kubelite.testing.waiting import wait_for
from tests.security.test_gateway_x509_rbac import Secure, assert_status
from tests.security.test_gateway_x509_rbac import secure as secure  # noqa: F401 - the gateway fixture

NS = "/api/v1/namespaces/default"


def pod(name: str, node: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox", "env": [
                {"name": "S", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]}], **spec}}


async def test_a_node_reads_only_what_its_pods_use(secure: Secure, tmp_path: Path) -> None:
    admin = pki.read_pair(tmp_path / "pki", "admin")
    node1 = secure.user("system:node:node-1", "system:nodes")
    node2 = secure.user("system:node:node-2", "system:nodes")
    for path, doc in (
        (f"{NS}/secrets", {"metadata": {"name": "s1"}, "stringData": {"k": "one"}}),
        (f"{NS}/secrets", {"metadata": {"name": "s2"}, "stringData": {"k": "two"}}),
        (f"{NS}/configmaps", {"metadata": {"name": "c1"}, "data": {"k": "v"}}),
        ("/api/v1/persistentvolumes", {"metadata": {"name": "pv1"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv1"}}}),
        (f"{NS}/persistentvolumeclaims", {"metadata": {"name": "claim1"}, "spec": {
            "volumeName": "pv1", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        (f"{NS}/pods", pod("p1", "node-1", "s1", volumes=[
            {"name": "cm", "projected": {"sources": [{"configMap": {"name": "c1"}}]}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "claim1"}}])),
        (f"{NS}/pods", pod("p2", "node-2", "s2")),
    ):
        status, created = await secure.call(admin, "POST", path, doc)
        assert status == 201, created

    for path in (f"{NS}/secrets/s1", f"{NS}/configmaps/c1", f"{NS}/persistentvolumeclaims/claim1",
                 "/api/v1/persistentvolumes/pv1"):
        status, doc = await secure.call(node1, "GET", path)
        assert status == 200, (path, doc)
    status, doc = await secure.call(node2, "GET", f"{NS}/secrets/s2")
    assert status == 200 and doc["data"]["k"], doc

    status, doc = await secure.call(node1, "GET", f"{NS}/secrets/s2")
    assert status == 403, doc
    assert_status(doc, 403, "Forbidden")
    assert doc["message"] == ('secrets "s2" is forbidden: User "system:node:node-1" cannot get resource "secrets" in '
                              'API group "" in the namespace "default": no relationship found between node '
                              "'node-1' and this object")
    for path in (f"{NS}/secrets", f"{NS}/configmaps", "/api/v1/secrets", f"{NS}/secrets?watch=1"):
        status, doc = await secure.call(node1, "GET", path)
        assert status == 403, (path, doc)

    async def review(name: str) -> bool:
        sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
            "user": "system:node:node-1", "groups": ["system:nodes", "system:authenticated"],
            "resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": "default", "name": name}}}
        status, doc = await secure.call(admin, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
        assert status == 201, doc
        return bool(doc["status"]["allowed"])
    assert await review("s1") and not await review("s2")

    status, doc = await secure.call(admin, "DELETE", f"{NS}/pods/p1?gracePeriodSeconds=0")
    assert status == 200, doc

    async def secret_closed() -> bool:
        status, _ = await secure.call(node1, "GET", f"{NS}/secrets/s1")
        return status == 403
    await wait_for(secret_closed, 10, 0.1, message="node-1 loses s1 with its pod")
