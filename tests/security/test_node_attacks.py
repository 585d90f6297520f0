"""Attacks with node-1's gateway credentials (``system:node:node-1`` in ``system:nodes``) against what
NodeRestriction, the Node authorizer and RBAC's ``system:node`` role hold: each write of another node's
or the cluster's objects, each read of a Secret or claim no pod of node-1 uses, is refused with kube's
Status and nothing is written (etcd's revision is unchanged).

Two holes found, fixed here, both through a mirror pod (which a node may create in any namespace):
- an ``ephemeral`` volume: kube's NodeRestriction lets it through, and its Node authorizer then grants
  the node the claim ``<pod>-<volume>``; with the pod's name chosen, node-1 could read any claim
  (``data-db`` in ``prod`` from a mirror pod ``data`` with a volume ``db``). NodeRestriction now
  counts an ephemeral volume as a claim reference;
- a TokenRequest for the namespace's ``default`` ServiceAccount bound to the mirror pod, which names
  no account: kubelite took "none" for ``default`` and minted the token (kube's graph has no pod →
  account edge then, so kube refuses). Now a pod's token is only for the account it names.

One HTTPS gateway with RBAC (tests/security/test_gateway_x509_rbac.py's fixture); the attacks share it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import json

import aiohttp

from kubelite.api.resources import LEASES as LEASE_RESOURCE
from kubelite.auth import pki
from kubelite.etcd.ops import op_put, txn
from kubelite.gateway.noderestriction import Attributes, decide
from tests.security.test_gateway_x509_rbac import Secure, revision
from tests.security.test_gateway_x509_rbac import secure as secure  # noqa: F401 - the gateway fixture
from tests.security.test_node_restriction import LEASES, MERGE, PODS, call, lease, pod

CLAIMS = "/api/v1/namespaces/prod/persistentvolumeclaims"
LEASES_KEY = LEASE_RESOURCE.key("node-1", "kube-node-lease")


def mirror_pod(name: str, namespace: str, node_uid: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "namespace": namespace, "annotations": {"kubernetes.io/config.mirror": "x"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": node_uid,
                             "controller": True}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}], **spec}}


EPHEMERAL = [{"name": "db", "ephemeral": {"volumeClaimTemplate": {"spec": {
    "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}]


def test_a_mirror_pod_may_not_name_a_claim_through_an_ephemeral_volume() -> None:
    attrs = Attributes("CREATE", "pods", namespace="prod", name="data", node_uid="u",
                       obj=mirror_pod("data", "prod", "u", volumes=EPHEMERAL))
    assert decide("node-1", attrs) == 'node "node-1" can not create pods that reference persistentvolumeclaims'


async def test_node_credentials_against_the_gateway(secure: Secure, tmp_path: Path) -> None:
    admin = pki.read_pair(tmp_path / "pki", "admin")
    assert admin is not None
    as_admin = secure.context(admin, "admin")
    as_node1 = secure.context(secure.user("system:node:node-1", "system:nodes"), "node-1")
    for path, doc in (("/api/v1/nodes", {"metadata": {"name": "node-1"}}),
                      ("/api/v1/nodes", {"metadata": {"name": "node-2"}}),
                      ("/api/v1/namespaces", {"metadata": {"name": "prod"}}),
                      (PODS, pod("p1", "node-1")), (PODS, pod("p2", "node-2")), (LEASES, lease("node-2")),
                      # pods that use s2 and mention node-1, bound elsewhere: past the Node authorizer's byte
                      # pre-filter, refused by its decision
                      (PODS, {**pod("p3", "node-10", annotations={"x": "node-1"}),
                              "spec": {**pod("p3", "node-10")["spec"], "volumes": [
                                  {"name": "s", "secret": {"secretName": "s2"}}]}}),
                      (PODS, {**pod("p4", "node-1x"), "spec": {**pod("p4", "node-1x")["spec"], "containers": [
                          {"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "s2"}}]}]}}),
                      ("/api/v1/namespaces/default/secrets", {"metadata": {"name": "s2"}, "data": {"k": "dg=="}}),
                      (CLAIMS, {"metadata": {"name": "data-db"}, "spec": {
                          "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})):
        status, created = await call(as_admin, secure, "POST", path, doc)
        assert status == 201, created
    node_uid = (await call(as_admin, secure, "GET", "/api/v1/nodes/node-1"))[1]["metadata"]["uid"]
    # a mirror pod of its own in prod (allowed), and prod's default ServiceAccount
    status, created = await call(as_admin, secure, "POST", "/api/v1/namespaces/prod/serviceaccounts",
                                 {"metadata": {"name": "default"}})
    assert status == 201, created
    status, mirror = await call(as_node1, secure, "POST", "/api/v1/namespaces/prod/pods",
                                mirror_pod("m", "prod", node_uid))
    assert status == 201 and not mirror["spec"].get("serviceAccountName"), mirror
    p1_before = (await call(as_admin, secure, "GET", f"{PODS}/p1"))[1]
    before = await revision(secure.store)

    refused: list[tuple[str, str, Any, str, str]] = [
        # (method, path, body, content type, the start of kube's message)
        # the hole: a mirror pod naming the claim prod/data-db through an ephemeral volume
        ("POST", "/api/v1/namespaces/prod/pods", mirror_pod("data", "prod", node_uid, volumes=EPHEMERAL),
         "application/json", 'pods "data" is forbidden: node "node-1" can not create pods that reference '
         "persistentvolumeclaims"),
        ("GET", f"{CLAIMS}/data-db", None, "", 'persistentvolumeclaims "data-db" is forbidden'),
        # Secrets no pod of node-1 uses, however asked
        ("GET", "/api/v1/namespaces/default/secrets/s2", None, "", 'secrets "s2" is forbidden'),
        ("GET", "/api/v1/namespaces/default/secrets/s2/", None, "", 'secrets "s2" is forbidden'),
        ("GET", "/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Ds2", None, "",
         "secrets is forbidden"),
        ("GET", "/api/v1/watch/namespaces/default/secrets/s2?timeoutSeconds=1", None, "", 'secrets "s2" is forbidden'),
        ("GET", "/api/v1/namespaces/default/Secrets/s2", None, "", 'Secrets "s2" is forbidden'),
        # the second hole: a token of prod's default ServiceAccount bound to its mirror pod, which names
        # no account (kube's graph has no pod → account edge then)
        ("POST", "/api/v1/namespaces/prod/serviceaccounts/default/token", {"spec": {"boundObjectRef": {
            "kind": "Pod", "apiVersion": "v1", "name": "m", "uid": mirror["metadata"]["uid"]}}}, "application/json",
         'serviceaccounts "default" is forbidden: node "node-1" can only create tokens for the service account of a '
         "pod it runs"),
        # a mirror pod naming the Secret (the graph would then grant it)
        ("POST", PODS, mirror_pod("m", "default", node_uid, volumes=[{"name": "s", "secret": {"secretName": "s2"}}]),
         "application/json", 'pods "m" is forbidden: node "node-1" can not create pods that reference secrets'),
        # node-2's pod, in every patch flavour, dry-run or not
        ("PATCH", f"{PODS}/p2/status", {"status": {"phase": "Failed"}}, "application/strategic-merge-patch+json",
         'pods "p2" is forbidden: node "node-1" can only update pod status'),
        ("PATCH", f"{PODS}/p2/status", [{"op": "add", "path": "/status/phase", "value": "Failed"}],
         "application/json-patch+json", 'pods "p2" is forbidden: node "node-1" can only update pod status'),
        ("DELETE", f"{PODS}/p2?dryRun=All", None, "", 'pods "p2" is forbidden: node "node-1" can only delete pods'),
        ("PATCH", f"{PODS}/p1/status", [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
         "application/json-patch+json", 'pods "p1" is forbidden: node "node-1" cannot update labels'),
        ("PATCH", f"{PODS}/p9?fieldManager=x", '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p9"}}',
         "application/apply-patch+yaml", 'pods "p9" is forbidden'),
        # subresources the system:node role does not grant
        ("PATCH", f"{PODS}/p1/ephemeralcontainers", {"spec": {"ephemeralContainers": []}}, MERGE,
         'pods/ephemeralcontainers "p1" is forbidden'),
        ("PATCH", f"{PODS}/p1/resize", {"spec": {}}, MERGE, 'pods/resize "p1" is forbidden'),
        ("GET", "/api/v1/nodes/node-2/proxy/healthz", None, "", 'nodes/proxy "node-2" is forbidden'),
        ("POST", f"{PODS}/p2/exec?command=ls&container=c&stdout=1", None, "", 'pods/exec "p2" is forbidden'),
        # other nodes' objects, collections, volumes, reviews
        ("POST", "/api/v1/nodes", {"metadata": {"name": "node-3"}}, "application/json",
         'nodes "node-3" is forbidden: node "node-1" is not allowed to modify node "node-3"'),
        ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", None, "", "leases is forbidden"),
        ("DELETE", "/api/v1/nodes", None, "", "nodes is forbidden"),
        ("POST", "/api/v1/persistentvolumes", {"metadata": {"name": "pvx"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp"}}},
         "application/json", "persistentvolumes is forbidden"),
        ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {"spec": {
            "user": "x", "resourceAttributes": {"verb": "get", "resource": "secrets"}}}, "application/json",
         "subjectaccessreviews is forbidden"),
    ]
    for method, path, body, content_type, message in refused:
        status, doc = await call(as_node1, secure, method, path, body, content_type=content_type or "application/json")
        assert status == 403 and doc.get("kind") == "Status", (method, path, doc)
        assert doc["message"].startswith(message), (method, path, doc["message"])
    # a body naming another object than the URL: refused before admission could be steered by it
    node2 = (await call(as_admin, secure, "GET", "/api/v1/nodes/node-2"))[1]
    renamed = {**node2, "metadata": {**node2["metadata"], "name": "node-1"}, "spec": {"unschedulable": True}}
    for method, path, body, content_type, code in (
            ("PUT", "/api/v1/nodes/node-2", renamed, "application/json", 400),
            ("PUT", "/api/v1/nodes/node-2/status", renamed, "application/json", 400),
            ("PATCH", "/api/v1/nodes/node-2", {"metadata": {"name": "node-1"}, "spec": {"unschedulable": True}},
             MERGE, 422),
            ("PATCH", "/api/v1/nodes/node-2/status", [{"op": "replace", "path": "/metadata/name", "value": "node-1"}],
             "application/json-patch+json", 422),
            ("PATCH", f"{LEASES}/node-2?fieldManager=x&force=true",
             '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"node-1"}}',
             "application/apply-patch+yaml", 400),
            ("POST", f"{PODS}/p1/eviction", {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p2"}},
             "application/json", 400),
            ("POST", LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                              "metadata": {"name": "node-1", "namespace": "default"}}, "application/json", 400)):
        status, doc = await call(as_node1, secure, method, path, body, content_type=content_type)
        assert status == code and doc.get("kind") == "Status", (method, path, doc)
    # impersonating node-2 takes the impersonate verb, which system:node lacks
    connector = aiohttp.TCPConnector(ssl=as_node1)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.delete(secure.url + f"{PODS}/p2", headers={
                "Impersonate-User": "system:node:node-2", "Impersonate-Group": "system:nodes"}) as response:
            doc = await response.json()
            assert response.status == 403 and doc["message"].startswith('users "system:node:node-2" is forbidden'), doc
    assert await revision(secure.store) == before  # nothing written by any of it

    # pods/status of its own pod: a status write cannot carry spec, owners, finalizers or a deletion
    for change in ({"spec": {"nodeName": "node-2"}}, {"metadata": {"finalizers": ["x/y"]}},
                   {"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-1",
                                                      "uid": node_uid}]}},
                   {"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}}):
        status, doc = await call(as_node1, secure, "PATCH", f"{PODS}/p1/status", change, content_type=MERGE)
        assert status == 200, doc
    p1 = (await call(as_admin, secure, "GET", f"{PODS}/p1"))[1]
    assert p1["spec"] == p1_before["spec"], p1
    for field in ("finalizers", "ownerReferences", "deletionTimestamp"):
        assert field not in p1["metadata"], p1["metadata"]


async def test_the_gateway_serves_a_forged_node_lease_under_its_keys_name(secure: Secure, tmp_path: Path) -> None:
    """node-1 writes its Lease key at etcd itself (tests/security/test_node_attacks_etcd.py): a value
    naming node-2 is served as node-1's by a GET, a LIST (the raw JSON path) and a WATCH (the watch hub)."""
    admin = pki.read_pair(tmp_path / "pki", "admin")
    assert admin is not None
    as_admin = secure.context(admin, "admin")
    for doc in (lease("node-1"), lease("node-2")):
        status, created = await call(as_admin, secure, "POST", LEASES, doc)
        assert status == 201, created
    forged = json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": "node-2", "namespace": "kube-node-lease"},
                         "spec": {"holderIdentity": "forged"}}).encode()
    start = (await call(as_admin, secure, "GET", LEASES))[1]["metadata"]["resourceVersion"]
    await txn(secure.store.client, [], [op_put(LEASES_KEY, forged)], [], what="forge")  # as node-1's etcd user may
    status, got = await call(as_admin, secure, "GET", f"{LEASES}/node-1")
    assert status == 200 and got["metadata"]["name"] == "node-1" and got["spec"]["holderIdentity"] == "forged", got
    listed = (await call(as_admin, secure, "GET", LEASES))[1]["items"]
    assert sorted((i["metadata"]["name"], i["spec"]["holderIdentity"]) for i in listed) == [
        ("node-1", "forged"), ("node-2", "node-2")], listed
    connector = aiohttp.TCPConnector(ssl=as_admin)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(f"{secure.url}{LEASES}?watch=1&resourceVersion={start}&timeoutSeconds=5",
                            timeout=aiohttp.ClientTimeout(total=15)) as response:
            event = json.loads(await response.content.readline())
    assert (event["type"], event["object"]["metadata"]["name"]) == ("MODIFIED", "node-1"), event


async def test_a_member_of_system_nodes_that_is_no_node_gets_no_node_writes(secure: Secure, tmp_path: Path) -> None:
    """kubelite binds RBAC's system:node role to the group system:nodes (kube binds it to nobody and
    authorizes nodes by its Node authorizer, which needs a node's name), so a certificate or token
    in system:nodes whose user is not ``system:node:<name>`` held the node role with NodeRestriction
    skipped (kube's nodeidentifier: not a node): any pod's status, any Node, any Lease. The hole
    (fixed): NodeRestriction now refuses such a user's restricted writes, as kube does for a node
    whose name it cannot tell."""
    admin = pki.read_pair(tmp_path / "pki", "admin")
    assert admin is not None
    as_admin = secure.context(admin, "admin")
    as_alice = secure.context(secure.user("alice", "system:nodes"), "alice")
    for path, doc in (("/api/v1/nodes", {"metadata": {"name": "node-2"}}), (PODS, pod("p2", "node-2")),
                      (LEASES, lease("node-2"))):
        status, created = await call(as_admin, secure, "POST", path, doc)
        assert status == 201, created
    status, unscheduled = await call(as_admin, secure, "POST", PODS, pod("p3", ""))
    assert status == 201, unscheduled
    status, created = await call(as_admin, secure, "POST", "/api/v1/namespaces/default/serviceaccounts",
                                 {"metadata": {"name": "default"}})
    assert status == 201, created
    before = await revision(secure.store)
    for method, path, body in (("PATCH", f"{PODS}/p2/status", {"status": {"phase": "Failed"}}),
                               ("PATCH", f"{PODS}/p3/status", {"status": {"phase": "Failed"}}),
                               ("POST", "/api/v1/namespaces/default/serviceaccounts/default/token", {"spec": {
                                   "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p3",
                                                      "uid": unscheduled["metadata"]["uid"]}}}),
                               ("PATCH", "/api/v1/nodes/node-2", {"metadata": {"labels": {"x": "y"}}}),
                               ("PATCH", f"{LEASES}/node-2", {"spec": {"holderIdentity": "alice"}}),
                               ("DELETE", f"{PODS}/p2", None)):
        status, doc = await call(as_alice, secure, method, path, body, content_type=MERGE)
        assert status == 403 and doc["message"].endswith("is forbidden: could not determine node from user"), (
            method, path, doc)
    assert await revision(secure.store) == before
