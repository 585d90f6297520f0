"""Kubernetes protobuf bodies ↔ JSON: bytes kubectl 1.32 sent, and round trips for every served kind."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.gateway import protobuf
from kubelite.gateway.catalog import SERVED
from kubelite.gateway.protobuf import Field, ProtobufError, codec, decode_object, encode_object
from kubelite.api.schema import k8s_schema

# Captured from kubectl 1.32 (`create namespace golden`; `-n golden create deployment web
# --image=example/web:1 --image=example/side:2 --replicas=3 --port=8080`), with the JSON
# `--dry-run=client -o json` printed for the same command, nulls left out.
KUBECTL_NAMESPACE = "azhzAAoPCgJ2MRIJTmFtZXNwYWNlEh4KFgoGZ29sZGVuEgAaACIAKgAyADgAQgASABoCCgAaACIA"
KUBECTL_DEPLOYMENT = (
    "azhzAAoVCgdhcHBzL3YxEgpEZXBsb3ltZW50EvIBCiUKA3dlYhIAGgZnb2xkZW4iACoAMgA4AEIAWgoKA2FwcBIDd2ViEroBCAMSDAoKCgNh"
    "cHASA3dlYhqfAQocCgASABoAIgAqADIAOABCAFoKCgNhcHASA3dlYhJ/EjUKA3dlYhINZXhhbXBsZS93ZWI6MSoAMgsKABAAGJA/IgAqAEIA"
    "agByAIABAIgBAJABAKIBABIqCgRzaWRlEg5leGFtcGxlL3NpZGU6MioAQgBqAHIAgAEAiAEAkAEAogEAGgAyAEIASgBSAFgAYABoAIIBAIoB"
    "AJoBAMIBACICCgAoADgAGgwIABAAGAAgACgAOAAaACIA"
)
KUBECTL_DEPLOYMENT_JSON = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "namespace": "golden", "labels": {"app": "web"}},
    "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "example/web:1", "ports": [{"containerPort": 8080}], "resources": {}},
            {"name": "side", "image": "example/side:2", "resources": {}},
        ]}},
        "strategy": {},
    },
    "status": {},
}


def test_kubectl_bodies_decode_to_the_json_kubectl_would_send() -> None:
    assert decode_object(base64.b64decode(KUBECTL_NAMESPACE)) == {
        "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "golden"}, "spec": {}, "status": {},
    }
    assert decode_object(base64.b64decode(KUBECTL_DEPLOYMENT)) == KUBECTL_DEPLOYMENT_JSON


def test_encoding_is_the_bytes_go_writes_for_the_same_fields() -> None:
    # Go also writes zero non-pointer scalars (""), which decode drops again; equal after a decode
    ours = encode_object(KUBECTL_DEPLOYMENT_JSON)
    assert ours.startswith(protobuf.MAGIC)
    assert decode_object(ours) == decode_object(base64.b64decode(KUBECTL_DEPLOYMENT))


EXAMPLES: dict[str, dict[str, Any]] = {
    "Pod": {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p", "namespace": "default", "creationTimestamp": "2026-01-02T03:04:05Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u",
                                          "controller": True}],
                     "deletionGracePeriodSeconds": 0,
                     "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
        "spec": {
            "containers": [{
                "name": "c", "image": "i", "command": ["sh", "-c"], "env": [{"name": "A", "value": "1"}],
                "ports": [{"containerPort": 0, "hostPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "1"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                "readinessProbe": {"tcpSocket": {"port": 8080}},
                "startupProbe": {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 0},
            }],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "nodeSelector": {"disk": "ssd"}, "terminationGracePeriodSeconds": 30,
        },
        "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z"}],
            "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0, "image": "i", "imageID": "",
                                   "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
    },
    "Event": {
        "kind": "Event", "apiVersion": "v1", "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "count": 2,
        "eventTime": "2026-01-02T03:04:05.123456Z", "firstTimestamp": "2026-01-02T03:04:05Z",
        "series": {"count": 3, "lastObservedTime": "2026-01-02T03:04:06.000001Z"}, "source": {"component": "x"},
        "reportingComponent": "", "reportingInstance": "",
    },
    "Lease": {
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1", "metadata": {"name": "node-1"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-01-02T03:04:05.500000Z"},
    },
    "Scale": {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"},
              "spec": {}, "status": {"replicas": 0}},  # spec.replicas 0: omitempty in Go
    "Eviction": {"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "p"},
                 "deleteOptions": {"gracePeriodSeconds": 0, "preconditions": {"uid": "u"}}},
    "SelfSubjectAccessReview": {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                                "metadata": {}, "spec": {"resourceAttributes": {
                                    "namespace": "dev", "verb": "list", "resource": "pods"}},
                                "status": {"allowed": True, "reason": "ok"}},
    "DeleteOptions": {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                      "propagationPolicy": "Foreground", "dryRun": ["All"]},
}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_examples_round_trip(kind: str) -> None:
    assert decode_object(encode_object(EXAMPLES[kind])) == EXAMPLES[kind]


def test_every_served_kind_has_a_message() -> None:
    roots = codec().roots
    # CRDs are served as JSON only (their types are not in the generated tables; kubectl and
    # client-go's dynamic client speak JSON to them): as_protobuf leaves them JSON
    # APIService is kube-aggregator's, not in k8s.io/api (protobuf_gen reads only that): JSON too
    roots_with_messages = {k for k, t in k8s_schema()["roots"].items() if t in codec().classes}
    json_only = {s.resource.kind for s in SERVED if s.resource.kind not in roots_with_messages}
    assert json_only == {"CustomResourceDefinition", "APIService"}
    for served in SERVED:
        if served.resource.kind in json_only:
            continue
        assert served.resource.kind in roots
        assert k8s_schema()["roots"][served.resource.kind] in codec().classes


def test_every_schema_field_has_a_protobuf_number() -> None:
    """The tables agree: a field kubectl can send in JSON can come in protobuf too."""
    def carried(spec: protobuf.MessageSpec) -> set[str]:  # its JSON members, embedded structs' at any depth
        return {n for n, f in spec.fields.items() if not f.inline} | {
            n for f in spec.fields.values() if f.inline for n in carried(f.inline)}

    on_the_wire = {name: carried(spec) for name, spec in codec().specs.items()}
    elsewhere = [name for name in k8s_schema()["types"] if name not in on_the_wire]
    assert elsewhere and all(name.startswith(("V1APIService", "ApiregistrationV1")) for name in elsewhere)
    missing = [f"{name}.{f}" for name, fields in k8s_schema()["types"].items() if name in on_the_wire for f in fields
               if f not in ("apiVersion", "kind") and f not in on_the_wire[name]
               and fields[f] != "{}[]string"]  # a user's ``extra`` (map of ExtraValue): not carried, see protobuf_gen
    assert missing == []


@pytest.mark.parametrize("body", [
    b"", b"{}", b"k8s\x00\xff\xff", protobuf.MAGIC + b"\n\x15\n\x02v1\x12\x0fComponentStatus",  # a kind kubelite does not serve
])
def test_bad_bodies_are_protobuf_errors(body: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode_object(body)


# -- property: any document in Go's JSON shape survives encode → decode ---------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_NAMES = st.text("abcdefghij-./", min_size=1, max_size=6)
_SECONDS = st.integers(0, 253402300799)


def _time(micro: bool) -> st.SearchStrategy[str]:
    def fmt(seconds: int, micros: int) -> str:
        when = datetime.fromtimestamp(seconds, UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{micros:06d}Z" if micro else "Z")
    return st.builds(fmt, _SECONDS, st.integers(0, 999_999))


def _value(f: Field, depth: int) -> st.SearchStrategy[Any]:
    zero_ok = f.keep_zero and f.shape == ""
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "string": _TEXT | (st.just("") if zero_ok else st.nothing()),
        "int32": st.integers(-(2**31), 2**31 - 1).filter(lambda v: zero_ok or v != 0),
        "int64": st.integers(-(2**63), 2**63 - 1).filter(lambda v: zero_ok or v != 0),
        "bool": st.booleans() if zero_ok else st.just(True),
        "bytes": st.binary(min_size=1, max_size=8).map(lambda b: base64.b64encode(b).decode()),
        "Quantity": st.sampled_from(["100m", "1Gi", "2", "0"]),
        "IntOrString": st.integers(-(2**31), 2**31 - 1) | _TEXT,
        "Time": _time(False), "MicroTime": _time(True),
        "FieldsV1": st.dictionaries(_NAMES, st.just({}), max_size=2),
        "RawExtension": st.dictionaries(_NAMES, _TEXT | st.integers(-5, 5), min_size=1, max_size=2),  # revision data
    }
    if f.value == "":
        return _message(f.message, depth + 1)
    return scalars[f.value]


def _message(name: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth > 3:
        return st.just({})
    fields: dict[str, Field] = {}
    groups = list(codec().specs[name].fields.values())
    while groups:  # embedded structs' fields are the parent's in JSON, at any depth
        f = groups.pop()
        if f.inline:
            groups.extend(f.inline.fields.values())
        else:
            fields[f.json] = f
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for json_name, f in fields.items():
        one = st.deferred(lambda f=f: _value(f, depth))
        if f.shape == "[]":
            optional[json_name] = st.lists(one, min_size=1, max_size=2)
        elif f.shape == "{}":
            optional[json_name] = st.dictionaries(_NAMES, one, min_size=1, max_size=2)
        else:
            optional[json_name] = one
    return st.fixed_dictionaries({}, optional=optional)


def test_kinds_outside_k8s_io_api_have_no_protobuf_message() -> None:
    with pytest.raises(ProtobufError, match="no protobuf message"):  # the gateway answers them in JSON
        encode_object({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "x"}})


@pytest.mark.parametrize("kind", sorted(k for k, t in k8s_schema()["roots"].items() if t in codec().classes))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_document_round_trips(kind: str, data: st.DataObject) -> None:
    root = k8s_schema()["roots"][kind]
    body = data.draw(_message(root, 0))
    doc = {"kind": kind, "apiVersion": "v1", **body}
    decoded = decode_object(encode_object(doc))
    assert json.dumps(decoded, sort_keys=True) == json.dumps(doc, sort_keys=True)


# -- the generator's readers (facts from .proto and types.go) --------------------------------------

def test_generator_reads_proto_fields_maps_and_go_tags() -> None:
    from kubelite.gateway.protobuf_gen import parse_go_structs, parse_proto  # noqa: PLC0415

    package, messages = parse_proto(
        'package k8s.io.api.core.v1;\n'
        'message Probe {\n  // +optional\n  optional ProbeHandler handler = 1;\n'
        '  optional int32 initialDelaySeconds = 2;\n}\n'
        'message ResourceRequirements {\n'
        '  map<string, k8s.io.apimachinery.pkg.api.resource.Quantity> limits = 1;\n'
        '  repeated ResourceClaim claims = 3;\n}\n'
    )
    assert package == "k8s.io.api.core.v1"
    assert [(f.name, f.number, f.repeated, f.map_value) for f in messages["ResourceRequirements"]] == [
        ("limits", 1, False, True), ("claims", 3, True, False)]
    structs = parse_go_structs(
        "type Probe struct {\n"
        '\tProbeHandler `json:"" protobuf:"bytes,1,opt,name=handler"`\n'
        '\tInitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty" protobuf:"varint,2,opt,name=initialDelaySeconds"`\n'
        '\tReplicas *int32 `json:"replicas,omitempty" protobuf:"varint,3,opt,name=replicas"`\n'
        '\tName string `json:"name" protobuf:"bytes,4,opt,name=name"`\n'
        "}\n"
        "type EphemeralContainer struct {\n"
        '\tEphemeralContainerCommon `json:",inline" protobuf:"bytes,1,req"`\n'
        "}\n"
    )
    probe = structs["Probe"]
    assert probe["handler"].embedded == "ProbeHandler"
    assert (probe["initialDelaySeconds"].omitempty, probe["initialDelaySeconds"].pointer) == (True, False)
    assert probe["replicas"].pointer and not probe["name"].omitempty
    assert structs["EphemeralContainer"]["ephemeralContainerCommon"].embedded == "EphemeralContainerCommon"


def test_table_facts_for_well_known_fields() -> None:
    """Spot checks against k8s.io/api's generated.proto and types.go."""
    specs = codec().specs
    deployment_spec = specs["V1DeploymentSpec"].fields
    assert (deployment_spec["replicas"].number, deployment_spec["replicas"].value, deployment_spec["replicas"].keep_zero) \
        == (1, "int32", True)
    assert (deployment_spec["paused"].number, deployment_spec["paused"].keep_zero) == (7, False)
    probe = specs["V1Probe"].fields
    assert probe["#1"].inline is not None and probe["#1"].inline.fields["httpGet"].number == 2
    assert specs["V1ObjectMeta"].fields["creationTimestamp"].value == "Time"
    assert specs["V1HTTPGetAction"].fields["port"].value == "IntOrString"
    assert specs["V1ResourceRequirements"].fields["limits"].shape == "{}"
    assert specs["CoreV1Event"].fields["eventTime"].value == "MicroTime"
    assert specs["V1ReplicaSetStatus"].fields["replicas"].keep_zero  # `json:"replicas"`: no omitempty
