"""``store.decode`` lets pydantic parse a stored document itself (``model_validate_json``) for the
built-in kinds; the oracle is the path it replaced, ``codec.loads`` then ``model_validate``: the same
values, set fields and extras at every level, for hypothesis' pods with unknown fields at the top
and in the spec, and for a document of each kind with a model of its own (and two stored as
documents), with unknown fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.core import Pod
from kubelite.api.resources import PODS, resource_for_api_version
from kubelite.storage import codec
from kubelite.storage.store import decode

from tests.unit.test_deep_copy import extra_fields, shape, with_extras
from tests.unit.test_bind_document import pods

META = {"name": "x", "namespace": "default", "uid": "u-1", "creationTimestamp": "2026-12-01T17:00:00Z",
        "labels": {"a": ""}, "annotations": {"k": "v"}, "xMeta": 1}
TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i", "xC": [1]}]}}
DOCUMENTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {**META, "namespace": None}, "status": {"phase": "Active"}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {**META, "namespace": None},
     "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "podCIDR": "10.244.1.0/24"},
     "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}, "allocatable": {"cpu": "1900m"},
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-12-01T17:00:00Z"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}], "nodeInfo": {"kubeletVersion": "v1"},
                "xStatus": {"deep": [None, True, 1.5]}}},
    {"apiVersion": "v1", "kind": "Event", "metadata": META, "involvedObject": {"kind": "Pod", "name": "p"},
     "reason": "Started", "message": "m", "count": 3, "type": "Normal", "firstTimestamp": "2026-12-01T17:00:00Z",
     "eventTime": None},
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": META,
     "spec": {"holderIdentity": "h", "leaseDurationSeconds": 40, "renewTime": "2026-12-01T17:00:00.123456Z"}},
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": META,
     "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE},
     "status": {"replicas": 3, "readyReplicas": 2, "observedGeneration": 1}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": META,
     "spec": {"replicas": 0, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]},
              "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}, "template": TEMPLATE}},
    {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": META,
     "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"}, "maxReplicas": 5,
              "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                  "type": "Utilization", "averageUtilization": 50}}}]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": META, "data": {"a": "b"}, "binaryData": {"c": "ZA=="}},
    {"apiVersion": "v1", "kind": "Service", "metadata": META,
     "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53, "protocol": "UDP", "targetPort": "dns"}]}},
]


# Within int64, as every integer a writer can store through validation; beyond it the two paths differ on
# purpose (store.decode's comment), as the last test shows.
extras = extra_fields(st.integers(-2**63, 2**63 - 1))


def oracle(model: Any, stored: bytes) -> Any:
    return model.model_validate(codec.loads(stored))


@settings(max_examples=150, deadline=None)
@given(pods, extras, extras)
def test_a_stored_pod_decodes_as_loads_then_validate(pod: Pod, top: dict[str, Any], spec_extra: dict[str, Any]) -> None:
    stored = codec.dumps(with_extras(pod, top, spec_extra))
    decoded = decode(PODS, stored, 9)
    expected = oracle(Pod, stored)
    expected.metadata.resource_version = "9"
    assert shape(decoded) == shape(expected)
    assert decoded.to_dict() == expected.to_dict()


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[doc["kind"] for doc in DOCUMENTS])
def test_each_kind_decodes_as_loads_then_validate(doc: dict[str, Any]) -> None:
    res = resource_for_api_version(doc["apiVersion"], doc["kind"])
    assert res is not None and res.conversion is None and not res.custom
    stored = codec.dumps(res.model.model_validate(doc).to_dict())
    decoded = decode(res, stored, 3)
    expected = oracle(res.model, stored)
    expected.metadata.resource_version = "3"
    assert shape(decoded) == shape(expected)
    assert decoded.to_dict() == expected.to_dict()


def test_an_unknown_integer_beyond_64_bits_is_kept_exactly() -> None:
    """Only the encoder's stdlib fallback writes one; pydantic keeps it, where ``orjson`` refused it."""
    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": []}})
    stored = codec.dumps(with_extras(pod, {}, {"xUnknown": -2**63 - 1}))
    assert decode(PODS, stored, 1).spec.model_extra == {"xUnknown": -2**63 - 1}
