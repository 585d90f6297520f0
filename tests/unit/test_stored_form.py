"""The form objects take in etcd: camelCase Kubernetes JSON, whoever builds them (pure tests).

``store.encode`` is the one serialiser every writer goes through; it runs
``validate_for_storage``. Case 13 came from the agent storing
``status.daemon_endpoints`` (a Python name): `kubectl taint` then failed its
strict patch on every node.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agent.node import NodeConfig, build_node
from agent.runtime.base import HostResources, RuntimeVersion
from kubelite.api.core import PodStatus
from kubelite.api.errors import ApiError
from kubelite.api.schema import check_document
from kubelite.api.validation import validate_for_storage
from kubelite.storage.store import encode
from tests.factories import make_pod

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def agent_node(endpoint: str | None = "http://127.0.0.1:10250") -> dict[str, object]:
    node = build_node(NodeConfig(name="node-1", endpoint=endpoint), HostResources(cpu_millis=2000, memory_bytes=2**31),
                      RuntimeVersion(name="sim", version="1"), NOW)
    return json.loads(encode(node))


def test_the_agents_node_is_strict_kubernetes_json_with_its_daemon_endpoint() -> None:
    doc = agent_node()
    assert doc["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}  # Kubernetes' capital P
    findings = check_document(doc, "Node")
    assert findings.unknown == [] and findings.causes == []
    assert "daemonEndpoints" not in agent_node(endpoint=None)["status"]


def test_a_python_named_field_is_dropped_or_refused_in_strict_mode() -> None:
    """The bug's shape: model_copy(update=...) with a name the model lacks keeps it under that Python name."""
    odd = make_pod()
    odd.status = PodStatus(phase="Running").model_copy(update={"nominated_node_name": "n1"})
    doc = odd.to_dict()
    assert doc["status"] == {"phase": "Running", "nominated_node_name": "n1"}  # what the model alone would store
    stored, dropped = validate_for_storage(odd, doc, strict_fields=False)
    assert dropped == ["status.nominated_node_name"] and stored["status"] == {"phase": "Running"}
    with pytest.raises(ApiError) as info:
        validate_for_storage(odd, doc, strict_fields=True)
    assert info.value.code == 422
    assert [(c.field, c.message) for c in info.value.status.details.causes or []] == [  # type: ignore[union-attr]
        ("status.nominated_node_name", 'unknown field "status.nominated_node_name"')]


def test_encode_refuses_what_kube_apiserver_would() -> None:
    pod = make_pod()
    pod.spec.termination_grace_period_seconds = 2**63  # past int64
    with pytest.raises(ApiError) as info:
        encode(pod)
    assert info.value.code == 422 and "spec.terminationGracePeriodSeconds" in str(info.value)
    pod.spec.termination_grace_period_seconds = -1
    with pytest.raises(ApiError, match="must be greater than or equal to 0"):
        encode(pod)
    assert json.loads(encode(pod, validate=False))["spec"]["terminationGracePeriodSeconds"] == -1  # deletion marks
