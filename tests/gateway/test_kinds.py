"""The stored-only built-in kinds (issue 11): served with every verb to the real kubectl 1.32, on a real etcd."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest

from controllers.namespace import NAMESPACED
from kubelite.api import errors
from kubelite.api import resources as r
from kubelite.gateway import Gateway, protobuf
from kubelite.api.documents import DOCUMENT_RULES, document_causes, document_immutable_causes
from tests.gateway.conftest import Kubectl, etcd_revision
from tests.gateway.test_kubectl import store_of

pytestmark = pytest.mark.timeout(180)

MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {pw: hunter2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-bot}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: bot}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules: [{host: a.example, http: {paths: [{path: /, pathType: Prefix,
           backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [echo, hi]}]
"""
# (kubectl name, object name, resource, a strategic-merge patch adding a label)
OBJECTS = (
    ("configmap", "cfg", r.CONFIGMAPS), ("secret", "sec", r.SECRETS), ("serviceaccount", "bot", r.SERVICEACCOUNTS),
    ("role", "reader", r.ROLES), ("rolebinding", "reader-bot", r.ROLEBINDINGS), ("ingress", "web", r.INGRESSES),
    ("networkpolicy", "deny", r.NETWORKPOLICIES), ("pdb", "web", r.PODDISRUPTIONBUDGETS),
    ("service", "web", r.SERVICES), ("job", "once", r.JOBS),
)


async def test_manifest_apply_get_patch_delete_each_kind(kubectl: Kubectl, gateway: Gateway) -> None:
    store = store_of(gateway)
    applied = await kubectl("apply", "-f", "-", stdin=MANIFEST)
    assert applied.stdout.count(" created") == len(OBJECTS), applied.stdout
    assert "does not act on" not in applied.stderr  # stored-only kinds are kept as sent, without noise
    for name, obj, res in OBJECTS:
        got = json.loads((await kubectl("get", name, obj, "-o", "json")).stdout)
        assert (got["kind"], got["metadata"]["name"]) == (res.kind, obj)
        # Kubernetes' etcd key layout
        assert (await store.get(res, obj, "default")).metadata.uid == got["metadata"]["uid"]
        await kubectl("patch", name, obj, "-p", '{"metadata":{"labels":{"patched":"strategic"}}}')
        await kubectl("patch", name, obj, "--type", "merge", "-p", '{"metadata":{"annotations":{"m":"merge"}}}')
        got = json.loads((await kubectl("get", name, obj, "-o", "json")).stdout)
        assert got["metadata"]["labels"] == {"patched": "strategic"} and got["metadata"]["annotations"]["m"] == "merge"
    secret = (await store.get(r.SECRETS, "sec", "default")).to_dict()
    assert secret["data"] == {"pw": base64.b64encode(b"hunter2").decode()} and "stringData" not in secret
    assert secret["type"] == "Opaque"
    service = json.loads((await kubectl("get", "svc", "web", "-o", "json")).stdout)
    assert service["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]  # defaulted
    assert service["spec"]["clusterIP"].startswith("10.")  # allocated (tests/gateway/test_services.py)
    # a strategic patch merges the service's ports by port number
    await kubectl("patch", "svc", "web", "-p", '{"spec":{"ports":[{"port":80,"targetPort":9090}]}}')
    assert (await store.get(r.SERVICES, "web", "default")).to_dict()["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090, "protocol": "TCP"}]
    listed = await kubectl("get", "configmap,secret,sa,role,rolebinding,ing,netpol,pdb,svc,job", "-o", "name")
    assert len(listed.stdout.split()) == len(OBJECTS) + 1 and "service/kubernetes" in listed.stdout  # the API's own
    for name, obj, res in OBJECTS:
        await kubectl("delete", name, obj)
        with pytest.raises(errors.ApiError) as gone:
            await store.get(res, obj, "default")
        assert gone.value.code == 404


async def test_explain_and_api_resources(kubectl: Kubectl) -> None:
    explained = await kubectl("explain", "configmap.data")
    assert "FIELD: data <map[string]string>" in explained.stdout
    assert "IngressBackend>" in (await kubectl("explain", "ingress.spec.defaultBackend")).stdout
    listed = (await kubectl("api-resources", "--no-headers")).stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in listed}
    assert rows["configmaps"][1:] == ["cm", "v1", "true", "ConfigMap"]
    assert rows["secrets"][1:] == ["v1", "true", "Secret"]
    assert rows["clusterroles"][1:] == ["rbac.authorization.k8s.io/v1", "false", "ClusterRole"]
    assert rows["cronjobs"][1:] == ["cj", "batch/v1", "true", "CronJob"]
    for res in r.STORED_ONLY:
        assert res.plural in rows
    all_kinds = (await kubectl("api-resources", "--categories=all", "-o", "name")).stdout.split()
    assert {"services", "jobs.batch", "cronjobs.batch", "statefulsets.apps"} <= set(all_kinds)


async def test_watch_sees_a_new_configmap(kubectl: Kubectl) -> None:
    watcher = await kubectl.start("get", "configmaps", "-w", "--output-watch-events", "-o", "name")
    try:
        async def seen() -> bool:
            await kubectl("create", "configmap", "watched", "--from-literal=a=b", check=False)
            assert watcher.stdout is not None
            line = await asyncio.wait_for(watcher.stdout.readline(), 10)
            return b"configmap/watched" in line
        assert await seen()
    finally:
        watcher.kill()
        await watcher.wait()


def _without_identity(doc: dict[str, Any]) -> dict[str, Any]:
    uid = doc["metadata"].get("uid")  # a Job's generated selector and pod labels carry it too
    doc = json.loads(json.dumps(doc).replace(uid, "<uid>") if uid else json.dumps(doc))
    for key in ("name", "uid", "resourceVersion", "creationTimestamp"):
        doc["metadata"].pop(key, None)
    for entry in doc["metadata"].get("managedFields", []):
        entry.pop("time", None)
    return doc


CREATES = (
    (r.CONFIGMAPS, ["configmap", "--from-literal=x=y", "--from-literal=z=w"]),
    (r.SECRETS, ["secret", "generic", "--from-literal=pw=hunter2"]),
    (r.SERVICEACCOUNTS, ["serviceaccount"]),
    (r.JOBS, ["job", "--image=busybox", "--", "echo", "hi"]),
    (r.CRONJOBS, ["cronjob", "--image=busybox", "--schedule=*/5 * * * *"]),
    (r.ROLES, ["role", "--verb=get", "--verb=list", "--resource=pods,configmaps"]),
    (r.CLUSTERROLES, ["clusterrole", "--verb=get", "--resource=nodes"]),
)


async def test_create_subcommands_send_protobuf_and_store_what_json_would(kubectl: Kubectl, gateway: Gateway) -> None:
    store = store_of(gateway)
    for res, args in CREATES:
        kind, rest = args[:2] if args[0] == "secret" else args[:1], args[2:] if args[0] == "secret" else args[1:]
        verbose = await kubectl("-v=8", "create", *kind, "by-proto", *rest)
        assert f"Content-Type: {protobuf.MEDIA_TYPE}" in verbose.stderr
        printed = await kubectl("create", *kind, "by-json", "--dry-run=client", "-o", "json", *rest)
        await kubectl("create", "-f", "-", stdin=printed.stdout)
        ns = "default" if res.namespaced else None
        by_proto = (await store.get(res, "by-proto", ns)).to_dict()
        by_json = (await store.get(res, "by-json", ns)).to_dict()
        # kubectl names a job's container after the job: compare with the names swapped
        same_names = json.loads(json.dumps(_without_identity(by_proto)).replace("by-proto", "by-json"))
        assert same_names == _without_identity(by_json), res.kind
    assert (await store.get(r.SECRETS, "by-proto", "default")).to_dict()["data"] == {
        "pw": base64.b64encode(b"hunter2").decode()}
    job = (await store.get(r.JOBS, "by-proto", "default")).to_dict()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]


BAD = (
    ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "data": {"x": "!!!"}}, "secrets", "data[x]"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"x": 1}}, "configmaps", "data[x]"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"a b": "1"}}, "configmaps",
     "data[a b]"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_"}}, "configmaps", "metadata.name"),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad"},
      "spec": {"ports": [{"port": 80, "targetPort": 8080, "nodePort": 2**31}]}}, "services", "spec.ports[0].nodePort"),
)


async def test_invalid_objects_are_422_naming_the_field_and_etcd_is_untouched(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    before = await etcd_revision(gateway)
    for doc, plural, path in BAD:
        async with api.post(f"/api/v1/namespaces/default/{plural}", json=doc) as response:
            status = await response.json()
            assert response.status == 422, status
            assert path in [c["field"] for c in status["details"]["causes"]], status
    async with api.post("/apis/rbac.authorization.k8s.io/v1/clusterroles?fieldValidation=Strict",
                        json={"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                              "metadata": {"name": "x"}, "rulez": []}) as response:
        assert response.status == 400 and 'unknown field "rulez"' in (await response.json())["message"]
    assert await etcd_revision(gateway) == before


async def test_immutable_fields_and_status_subresource(api: aiohttp.ClientSession, gateway: Gateway) -> None:
    base = "/api/v1/namespaces/default"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "frozen"}, "data": {"a": "1"},
          "immutable": True}
    async with api.post(f"{base}/configmaps", json=cm) as response:
        assert response.status == 201
    before = await etcd_revision(gateway)
    async with api.patch(f"{base}/configmaps/frozen", data=json.dumps({"data": {"a": "2"}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        status = await response.json()
        assert response.status == 422 and status["details"]["causes"][0]["field"] == "data", status
    assert await etcd_revision(gateway) == before
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}
    async with api.post("/apis/batch/v1/namespaces/default/jobs", json=job) as response:
        assert response.status == 201
    async with api.patch("/apis/batch/v1/namespaces/default/jobs/j/status", data=json.dumps({"status": {"active": 1},
                         "spec": {"parallelism": 5}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        patched = await response.json()
        assert response.status == 200 and patched["status"] == {"active": 1}, patched
        assert patched["spec"]["parallelism"] == 1  # the status subresource changes only status (1: the default)
    async with api.get("/apis/batch/v1/namespaces/default/jobs?limit=1") as response:
        assert (await response.json())["items"][0]["status"] == {"active": 1}
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "User", "name": "ann", "apiGroup": "rbac.authorization.k8s.io"}]}
    async with api.post(f"{rbac}/clusterrolebindings", json=binding) as response:
        assert response.status == 201
    before = await etcd_revision(gateway)
    async with api.patch(f"{rbac}/clusterrolebindings/b", data=json.dumps({"roleRef": {"name": "edit"}}),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        status = await response.json()
        assert response.status == 422 and status["details"]["causes"][0]["field"] == "roleRef", status
        assert "cannot change roleRef" in status["message"]
    assert await etcd_revision(gateway) == before
    async with api.patch(f"{rbac}/clusterrolebindings/b", data=json.dumps({"subjects": []}),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        assert response.status == 200  # subjects stay mutable


def test_namespace_deletion_covers_every_namespaced_kind() -> None:
    # the namespace controller deletes what NAMESPACED lists, which is built from ALL_RESOURCES
    assert {res.plural for res in r.ALL_RESOURCES if res.namespaced} == {res.plural for res in NAMESPACED}
    assert {res.plural for res in r.STORED_ONLY if res.namespaced} <= {res.plural for res in NAMESPACED}


# -- pure: the stored-only kinds' strategy rules ------------------------------------------------

def test_secret_string_data_is_merged_and_type_defaulted() -> None:
    prepare = DOCUMENT_RULES["Secret"].prepare
    assert prepare is not None
    doc = prepare({"data": {"a": "eA=="}, "stringData": {"a": "y", "b": "z"}})
    assert doc == {"data": {"a": "eQ==", "b": "eg=="}, "type": "Opaque"}  # stringData wins, as in kube-apiserver
    assert prepare({"type": "kubernetes.io/tls"})["type"] == "kubernetes.io/tls"


def test_document_rules_name_the_field() -> None:
    assert [c.field for c in document_causes("Secret", {"data": {"ok": "eA==", "bad": "%%"}})] == ["data[bad]"]
    assert [c.field for c in document_causes("ConfigMap", {"data": {"k": "v"}, "binaryData": {"k": "eA=="}})] == [
        "data[k]"]
    assert document_causes("Role", {"rules": []}) == []
    frozen = {"data": {"a": "1"}, "immutable": True}
    assert [c.field for c in document_immutable_causes("ConfigMap", frozen, {"data": {"a": "2"}})] == [
        "data", "immutable"]
    assert document_immutable_causes("ConfigMap", {"data": {"a": "1"}}, {"data": {"a": "2"}}) == []
    assert [c.field for c in document_immutable_causes("Service", {"spec": {"clusterIP": "10.0.0.1"}},
                                                       {"spec": {"clusterIP": "10.0.0.2"}})] == ["spec.clusterIPs[0]"]
    assert [c.field for c in document_immutable_causes("Job", {"spec": {"selector": {"a": 1}}}, {"spec": {}})] == [
        "spec.selector"]


async def test_delete_answers_as_kube_apiserver_does(api: aiohttp.ClientSession) -> None:
    """Services, service accounts, PVCs, quotas and storage classes answer DELETE with the object
    (the OpenAPI document's delete response names the kind); the others with a Status."""
    base = "/api/v1/namespaces/default"
    for plural, doc in (("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                                      "spec": {"ports": [{"port": 80}]}}),
                        ("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})):
        async with api.post(f"{base}/{plural}", json=doc) as response:
            assert response.status == 201
        async with api.delete(f"{base}/{plural}/x") as response:
            body = await response.json()
            assert response.status == 200
            assert body["kind"] == ("Service" if plural == "services" else "Status"), body


async def test_create_resets_status_to_gos_zero_status(api: aiohttp.ClientSession) -> None:
    """The status is the controllers'; kube-apiserver's create drops what the client sent and answers with the
    zero status as Go writes it (a struct is never omitted, a non-omitempty int is 0)."""
    cases = (
        ("/api/v1/namespaces/default/services", {"apiVersion": "v1", "kind": "Service",
                                                 "spec": {"ports": [{"port": 80}]}}, {"loadBalancer": {}}),
        ("/apis/policy/v1/namespaces/default/poddisruptionbudgets",
         {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"minAvailable": 1}},
         {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        ("/apis/batch/v1/namespaces/default/jobs", {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}, {}),
        ("/api/v1/namespaces/default/configmaps", {"apiVersion": "v1", "kind": "ConfigMap"}, None),  # no status
    )
    for path, doc, expected in cases:
        sent = {**doc, "metadata": {"name": "z"}, "status": {"sent": "by the client"}}
        if expected is None:
            sent.pop("status")
        async with api.post(path, json=sent) as response:
            created = await response.json()
            assert response.status == 201, created
            assert created.get("status") == expected, (path, created)


async def test_kubectl_get_prints_kube_columns(kubectl: Kubectl) -> None:
    await kubectl("apply", "-f", "-", stdin=MANIFEST)
    assert (await kubectl("get", "cm", "cfg")).stdout.split()[:5] == ["NAME", "DATA", "AGE", "cfg", "1"]
    assert (await kubectl("get", "secret", "sec")).stdout.split()[:6] == ["NAME", "TYPE", "DATA", "AGE", "sec",
                                                                          "Opaque"]
    svc = (await kubectl("get", "svc", "web", "-o", "wide")).stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    cells = svc[1].split()
    assert cells[:2] == ["web", "ClusterIP"] and cells[2].startswith("10.") and cells[3:5] == ["<none>", "80/TCP"]
    assert cells[-1] == "app=web"
