"""admissionregistration.k8s.io, certificates.k8s.io and apiregistration.k8s.io (issue 11): stored and
served with every verb to the real kubectl 1.32 and the official Python client, on a real etcd."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client

from kubelite.api.apiservice import AUTOMANAGED, local_apiservice
from kubelite.api.certificates import validate as validate_csr
from kubelite.api.apiservice import validate as validate_apiservice
from kubelite.gateway import Gateway
from kubelite.gateway.apiservices import plan, wanted_apiservices
from tests.gateway.conftest import Kubectl, etcd_revision

pytestmark = pytest.mark.timeout(180)


def csr_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ann")]))
               .sign(key, hashes.SHA256()))
    return base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()


def manifest() -> str:
    return f"""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{name: check}}
webhooks:
- name: check.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {{url: "https://hook.example.com/check"}}
  rules: [{{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: "*"}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {{name: mutate}}
webhooks:
- name: mutate.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {{service: {{name: hook, namespace: default}}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: few-replicas}}
spec:
  matchConstraints:
    resourceRules: [{{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}}]
  validations: [{{expression: "object.spec.replicas <= 5"}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: few-replicas}}
spec: {{policyName: few-replicas, validationActions: [Deny]}}
---
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {{name: ann}}
spec:
  request: {csr_pem()}
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
  username: someone-else
  expirationSeconds: 7200
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1alpha1.wardle.example.com}}
spec:
  group: wardle.example.com
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  insecureSkipTLSVerify: true
  service: {{name: api, namespace: wardle}}
"""


KINDS = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations", "validatingadmissionpolicies",
         "validatingadmissionpolicybindings", "certificatesigningrequests", "apiservices")


async def test_kubectl_apply_get_explain_approve_and_delete(kubectl: Kubectl) -> None:
    rows = {line.split()[0]: line.split() for line in (await kubectl("api-resources", "--no-headers")).stdout.splitlines()}
    assert rows["certificatesigningrequests"][1:] == ["csr", "certificates.k8s.io/v1", "false", "CertificateSigningRequest"]
    assert rows["apiservices"][1:] == ["apiregistration.k8s.io/v1", "false", "APIService"]
    assert rows["validatingadmissionpolicies"][1:] == ["admissionregistration.k8s.io/v1", "false",
                                                       "ValidatingAdmissionPolicy"]
    applied = await kubectl("apply", "-f", "-", stdin=manifest())
    assert "certificatesigningrequest.certificates.k8s.io/ann created" in applied.stdout, applied.stdout
    for plural in KINDS:
        assert (await kubectl("get", plural, "-o", "name")).stdout.strip(), plural
    explained = await kubectl("explain", "validatingadmissionpolicy.spec.validations.expression")
    assert "FIELD: expression <string>" in explained.stdout

    csr = json.loads((await kubectl("get", "csr", "ann", "-o", "json")).stdout)
    assert csr["spec"]["username"] == "system:unsecured"  # the requester, not what the client claimed
    assert csr["status"] == {}
    await kubectl("certificate", "approve", "ann")  # PUT .../certificatesigningrequests/ann/approval
    approved = json.loads((await kubectl("get", "csr", "ann", "-o", "json")).stdout)
    (condition,) = approved["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Approved", "True", "KubectlApprove")
    assert condition["lastUpdateTime"] and approved["spec"] == csr["spec"]

    await expect_kube_columns(kubectl)

    wardle = json.loads((await kubectl("get", "apiservice", "v1alpha1.wardle.example.com", "-o", "json")).stdout)
    assert wardle["spec"]["service"]["port"] == 443
    assert [(c["type"], c["status"]) for c in wardle["status"]["conditions"]] == [("Available", "False")]
    apps = json.loads((await kubectl("get", "apiservice", "v1.apps", "-o", "json")).stdout)
    assert [(c["type"], c["status"], c["reason"]) for c in apps["status"]["conditions"]] == [
        ("Available", "True", "Local")]
    assert apps["metadata"]["labels"] == {AUTOMANAGED: "onstart"}
    core = json.loads((await kubectl("get", "apiservice", "v1.", "-o", "json")).stdout)
    assert core["spec"] == {"version": "v1", "groupPriorityMinimum": 18000, "versionPriority": 1}

    await kubectl("delete", "-f", "-", stdin=manifest())
    for plural in KINDS[:-1]:
        assert (await kubectl("get", plural, "-o", "name")).stdout.strip() == "", plural


async def expect_kube_columns(kubectl: Kubectl) -> None:
    """``kubectl get`` prints kube's columns for these kinds (kubelite/registry/printers.py)."""
    async def table(*args: str) -> dict[str, list[str]]:
        lines = (await kubectl("get", *args)).stdout.splitlines()
        return {"HEADER": lines[0].split(), **{line.split()[0]: line.split() for line in lines[1:]}}

    services = await table("apiservices")
    assert services["HEADER"] == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    assert services["v1.apps"][1:3] == ["Local", "True"]
    assert services["v1alpha1.wardle.example.com"][1:4] == ["wardle/api", "False", "(FailedDiscoveryCheck)"]
    csrs = await table("csr")
    assert csrs["HEADER"] == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    # REQUESTEDDURATION is Go's HumanDuration: 7200 s prints as minutes (below 3 h)
    assert csrs["ann"][2:] == ["kubernetes.io/kube-apiserver-client", "system:unsecured", "120m", "Approved"]
    for plural, name in (("validatingwebhookconfigurations", "check"), ("mutatingwebhookconfigurations", "mutate")):
        hooks = await table(plural)
        assert hooks["HEADER"] == ["NAME", "WEBHOOKS", "AGE"] and hooks[name][1] == "1", plural
    policies = await table("validatingadmissionpolicies")
    assert policies["HEADER"] == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
    assert policies["few-replicas"][1:3] == ["1", "<unset>"]
    bindings = await table("validatingadmissionpolicybindings")
    assert bindings["HEADER"] == ["NAME", "POLICYNAME", "PARAMREF", "AGE"]
    assert bindings["few-replicas"][1:3] == ["few-replicas", "<unset>"]


async def test_local_apiservices_follow_the_crds(api: aiohttp.ClientSession) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    base = "/apis/apiregistration.k8s.io/v1/apiservices"
    async with api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd) as response:
        assert response.status == 201

    async def status_of(name: str) -> int:
        async with api.get(f"{base}/{name}") as response:
            return response.status

    async def eventually(name: str, status: int) -> None:
        deadline = asyncio.get_running_loop().time() + 20
        while await status_of(name) != status:
            assert asyncio.get_running_loop().time() < deadline, f"{name} never answered {status}"
            await asyncio.sleep(0.1)

    await eventually("v1.example.com", 200)
    async with api.get(f"{base}/v1.example.com") as response:
        assert (await response.json())["metadata"]["labels"] == {AUTOMANAGED: "true"}
    async with api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com") as response:
        assert response.status == 200
    await eventually("v1.example.com", 404)


async def test_python_client_reads_and_writes_the_new_groups(k8s: client.ApiClient) -> None:
    await asyncio.to_thread(_python_client_session, k8s)  # the client blocks; the gateway runs on this loop


def _python_client_session(k8s: client.ApiClient) -> None:
    admission = client.AdmissionregistrationV1Api(k8s)
    policy = client.V1ValidatingAdmissionPolicy(
        metadata=client.V1ObjectMeta(name="p"),
        spec=client.V1ValidatingAdmissionPolicySpec(validations=[client.V1Validation(expression="true")]))
    admission.create_validating_admission_policy(policy)
    assert admission.read_validating_admission_policy("p").spec.validations[0].expression == "true"
    assert [p.metadata.name for p in admission.list_validating_admission_policy().items] == ["p"]
    admission.patch_validating_admission_policy("p", {"metadata": {"labels": {"a": "b"}}})
    admission.delete_validating_admission_policy("p")
    certificates = client.CertificatesV1Api(k8s)
    certificates.create_certificate_signing_request(client.V1CertificateSigningRequest(
        metadata=client.V1ObjectMeta(name="c"),
        spec=client.V1CertificateSigningRequestSpec(request=csr_pem(), signer_name="example.com/signer",
                                                    usages=["digital signature"])))
    read = certificates.read_certificate_signing_request_approval("c")
    read.status.conditions = [client.V1CertificateSigningRequestCondition(type="Denied", status="True",
                                                                          reason="No")]
    denied = certificates.replace_certificate_signing_request_approval("c", read)
    assert [c.type for c in denied.status.conditions] == ["Denied"]
    services = client.ApiregistrationV1Api(k8s).list_api_service().items
    assert {"v1.", "v1.apps", "v1.certificates.k8s.io", "v1.admissionregistration.k8s.io"} <= {
        s.metadata.name for s in services}


BAD: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("/apis/certificates.k8s.io/v1/certificatesigningrequests",
     {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "bad"},
      "spec": {"request": base64.b64encode(b"not pem").decode(), "signerName": "nodomain", "usages": ["flying"]}},
     "spec.request spec.signerName spec.usages[0]"),
    ("/apis/apiregistration.k8s.io/v1/apiservices",
     {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.wrong.example.com"},
      "spec": {"group": "right.example.com", "version": "v1", "groupPriorityMinimum": 30000, "versionPriority": 1}},
     "metadata.name spec.groupPriorityMinimum"),
    ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
     {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
      "metadata": {"name": "bad"}, "webhooks": [{"name": "a.b.c", "timeoutSeconds": "soon"}]},
     "webhooks[0].timeoutSeconds"),
)


async def test_bad_objects_are_422_naming_the_field_and_etcd_is_untouched(
        api: aiohttp.ClientSession, gateway: Gateway) -> None:
    before = await etcd_revision(gateway)
    for path, doc, fields in BAD:
        async with api.post(path, json=doc) as response:
            status = await response.json()
            assert response.status == 422, status
            assert sorted(c["field"] for c in status["details"]["causes"]) == sorted(fields.split()), status
    async with api.post("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies?fieldValidation=Strict",
                        json={"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                              "metadata": {"name": "x"}, "spec": {"validationz": []}}) as response:
        assert response.status == 400 and 'unknown field "spec.validationz"' in (await response.json())["message"]
    assert await etcd_revision(gateway) == before


# -- pure --------------------------------------------------------------------------------------

def test_csr_rules() -> None:
    good = {"spec": {"request": csr_pem(), "signerName": "example.com/x", "usages": ["client auth"]}}
    assert validate_csr(good) == []
    both = {**good, "status": {"conditions": [{"type": "Approved", "status": "True"},
                                              {"type": "Denied", "status": "True"}]}}
    assert [c.field for c in validate_csr(both)] == ["status.conditions"]
    short = {"spec": {**good["spec"], "expirationSeconds": 60}}
    assert [c.field for c in validate_csr(short)] == ["spec.expirationSeconds"]
    issued = {**good, "status": {"certificate": "eA=="}}
    assert [c.field for c in validate_csr(issued)] == ["status.certificate"]


def test_apiservice_rules() -> None:
    assert validate_apiservice(local_apiservice("", "v1")) == []
    assert validate_apiservice(local_apiservice("apps", "v1")) == []
    local_with_tls = local_apiservice("apps", "v1")
    local_with_tls["spec"]["insecureSkipTLSVerify"] = True
    assert [c.field for c in validate_apiservice(local_with_tls)] == ["spec.insecureSkipTLSVerify"]
    no_group = {"metadata": {"name": "v2."}, "spec": {"version": "v2", "groupPriorityMinimum": 1, "versionPriority": 1}}
    assert [c.field for c in validate_apiservice(no_group)] == ["spec.group"]


def test_apiservice_plan_creates_updates_and_deletes_only_automanaged_ones() -> None:
    wanted = wanted_apiservices([("", "v1"), ("apps", "v1")], [("example.com", "v1"), ("apps", "v1")])
    assert sorted(wanted) == ["v1.", "v1.apps", "v1.example.com"]
    assert wanted["v1.apps"]["metadata"]["labels"] == {AUTOMANAGED: "onstart"}  # the built-in one wins
    stale = {**local_apiservice("gone.example.com", "v1", crd=True), "metadata": {
        "name": "v1.gone.example.com", "labels": {AUTOMANAGED: "true"}, "resourceVersion": "5"}}
    users = {"metadata": {"name": "v1beta1.users.example.com"}, "spec": {"service": {"name": "x"}}}
    drifted = {**wanted["v1.apps"], "spec": {**wanted["v1.apps"]["spec"], "versionPriority": 99}}
    todo = plan(wanted, [stale, users, drifted])
    assert [d["metadata"]["name"] for d in todo.create] == ["v1.", "v1.example.com"]
    assert [d["spec"]["versionPriority"] for d in todo.update] == [15]
    assert todo.delete == [stale]
    assert plan(wanted, [*todo.create, *todo.update, users]).create == []


# -- events.k8s.io/v1: the core events in another shape ------------------------------------------

EVENT_V1 = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/ctl",
            "reportingInstance": "ctl-1", "action": "Poke", "reason": "Poked", "type": "Normal", "note": "hello",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}}


async def test_events_k8s_io_is_the_core_events_converted(api: aiohttp.ClientSession, kubectl: Kubectl,
                                                          gateway: Gateway) -> None:
    v1 = "/apis/events.k8s.io/v1/namespaces/default/events"
    async with api.get(v1) as response:
        start = (await response.json())["metadata"]["resourceVersion"]
    async with api.post(v1, json=EVENT_V1) as response:
        created = await response.json()
        assert response.status == 201, created
    assert created["note"] == "hello" and created["regarding"]["name"] == "p"
    async with api.get("/api/v1/namespaces/default/events/e1") as response:
        core = await response.json()
    assert (core["apiVersion"], core["message"], core["involvedObject"]["name"], core["reportingComponent"]) == (
        "v1", "hello", "p", "example.com/ctl")
    async with api.get(f"{v1}?watch=1&resourceVersion={start}&timeoutSeconds=10") as response:
        event = json.loads(await asyncio.wait_for(response.content.readline(), 10))
    assert (event["type"], event["object"]["apiVersion"], event["object"]["note"]) == (
        "ADDED", "events.k8s.io/v1", "hello")
    watched = await kubectl("get", "events.v1.events.k8s.io", "-w", "--output-watch-events", "-o", "name",
                            "--request-timeout", "2s", check=False)
    assert "event.events.k8s.io/e1" in watched.stdout, watched
    async with api.patch(f"{v1}/e1", data=json.dumps({"note": "again"}),
                         headers={"Content-Type": "application/merge-patch+json"}) as response:
        assert (await response.json())["note"] == "again"
    listed = await kubectl("get", "events.v1.events.k8s.io", "--field-selector", "regarding.name=p", "-o", "name")
    assert listed.stdout.split() == ["event.events.k8s.io/e1"]
    table = await kubectl("get", "events.v1.events.k8s.io")
    assert "Poked" in table.stdout and "pod/p" in table.stdout and "again" in table.stdout, table.stdout
    explained = await kubectl("explain", "events.note", "--api-version=events.k8s.io/v1")
    assert "FIELD: note <string>" in explained.stdout
    before = await etcd_revision(gateway)
    bad = {**EVENT_V1, "metadata": {"name": "e2"}, "reportingController": "", "type": "Odd"}
    async with api.post(v1, json=bad) as response:
        status = await response.json()
        assert response.status == 422, status
    assert sorted(c["field"] for c in status["details"]["causes"]) == ["reportingController", "type"]
    assert await etcd_revision(gateway) == before
    await asyncio.to_thread(_events_python_client, gateway.url)
    async with api.delete(f"{v1}/e1") as response:
        assert response.status == 200
    async with api.get("/api/v1/namespaces/default/events/e1") as response:
        assert response.status == 404


def _events_python_client(url: str) -> None:
    configuration = client.Configuration()
    configuration.host = url
    with client.ApiClient(configuration) as k8s:
        events = client.EventsV1Api(k8s)
        listed = events.list_namespaced_event("default")
        assert [(e.metadata.name, e.note, e.regarding.name) for e in listed.items] == [("e1", "again", "p")]
        events.create_namespaced_event("default", client.EventsV1Event(
            metadata=client.V1ObjectMeta(name="e3"), event_time="2026-01-01T00:00:00.000000Z",
            reporting_controller="example.com/ctl", reporting_instance="i", action="A", reason="R", type="Warning"))
        assert events.read_namespaced_event("e3", "default").type == "Warning"
        events.delete_namespaced_event("e3", "default")


STORAGE_AND_TEMPLATES = """\
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: hostpath.csi.example.com}
spec: {attachRequired: false, podInfoOnMount: true, volumeLifecycleModes: [Persistent, Ephemeral],
       tokenRequests: [{audience: vault}]}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: node-a}
spec: {drivers: [{name: hostpath.csi.example.com, nodeID: node-a, topologyKeys: [topology.example.com/zone]}]}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: va-1}
spec: {attacher: hostpath.csi.example.com, nodeName: node-a, source: {persistentVolumeName: pv-1}}
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata: {name: cap-1, namespace: default}
storageClassName: standard
capacity: 10Gi
---
apiVersion: v1
kind: PodTemplate
metadata: {name: tmpl, namespace: default}
template:
  metadata: {labels: {app: tmpl}}
  spec: {containers: [{name: c, image: kubelite/demo:latest}]}
"""
STORAGE_PLURALS = ("csidrivers", "csinodes", "volumeattachments", "csistoragecapacities", "podtemplates")


async def test_storage_k8s_io_and_pod_templates_with_kubectl(kubectl: Kubectl, gateway: Gateway) -> None:
    """The rest of storage.k8s.io/v1 and core PodTemplates: stored as sent, with every verb."""
    rows = {line.split()[0]: line.split() for line in (await kubectl("api-resources", "--no-headers")).stdout.splitlines()}
    assert rows["csistoragecapacities"][1:] == ["storage.k8s.io/v1", "true", "CSIStorageCapacity"]
    assert rows["volumeattachments"][1:] == ["storage.k8s.io/v1", "false", "VolumeAttachment"]
    assert rows["podtemplates"][1:] == ["v1", "true", "PodTemplate"]
    applied = await kubectl("apply", "-f", "-", stdin=STORAGE_AND_TEMPLATES)
    assert "volumeattachment.storage.k8s.io/va-1 created" in applied.stdout, applied.stdout
    for plural in STORAGE_PLURALS:
        assert (await kubectl("get", plural, "-o", "name")).stdout.strip(), plural
    driver = json.loads((await kubectl("get", "csidriver", "hostpath.csi.example.com", "-o", "json")).stdout)
    assert driver["spec"]["tokenRequests"] == [{"audience": "vault"}]
    explained = await kubectl("explain", "volumeattachment.spec.source.persistentVolumeName")
    assert "persistentVolumeName" in explained.stdout

    # unknown fields are refused as kube-apiserver's strict decoding does, and nothing is written
    before = await etcd_revision(gateway)
    bad = await kubectl("apply", "--validate=strict", "-f", "-", check=False, stdin=(
        "apiVersion: storage.k8s.io/v1\nkind: VolumeAttachment\nmetadata: {name: va-2}\n"
        "spec: {attacher: a, nodeName: n, source: {persistentVolumeName: p}, bogus: 1}\n"))
    assert bad.returncode != 0 and "bogus" in bad.stderr, bad.stderr
    assert await etcd_revision(gateway) == before

    await kubectl("delete", "-f", "-", stdin=STORAGE_AND_TEMPLATES)
    for plural in STORAGE_PLURALS:
        assert (await kubectl("get", plural, "-o", "name")).stdout.strip() == "", plural
