"""The status a kind is created with (kubelite.registry.strategy.reset_status_on_create), and the update
rules of a gated pod (kubelite.gateway.immutable): pure, kube-apiserver's pod strategy and validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.api.core import PodSchedulingGate, PodStatus, ResourceRequirements
from kubelite.api.generic import document_model
from kubelite.api.resources import REPLICASETS, VOLUMEATTACHMENTS
from kubelite.gateway.immutable import immutable_field_causes
from kubelite.registry.strategy import reset_status_on_create

from tests.factories import make_pod

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def test_a_pod_is_created_pending_with_its_qos_class() -> None:
    sent = make_pod()
    sent.spec.containers[0].resources = ResourceRequirements(requests={"cpu": "100m"})
    sent.status = PodStatus(phase="Running", pod_ip="10.0.0.1")
    created = reset_status_on_create(sent)
    assert created.status is not None and created.status.to_dict() == {"phase": "Pending", "qosClass": "Burstable"}
    assert sent.status.phase == "Running"  # a copy
    sent.status = PodStatus(qos_class="Guaranteed")  # GetPodQOS: a class sent is kept
    assert reset_status_on_create(sent).status.qos_class == "Guaranteed"  # type: ignore[union-attr]


def test_a_gated_pod_is_created_scheduling_gated_at_its_creation_time() -> None:
    sent = make_pod()
    sent.metadata.creation_timestamp = T0
    sent.spec.scheduling_gates = [PodSchedulingGate(name="example.com/wait")]
    status = reset_status_on_create(sent).status
    assert status is not None and status.to_dict() == {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
         "message": "Scheduling is blocked due to non-empty scheduling gates",
         "lastTransitionTime": "2026-12-01T20:00:00Z"}]}


@pytest.mark.parametrize(("res", "expected"), [
    (REPLICASETS, {"replicas": 0}),
    (VOLUMEATTACHMENTS, {"attached": False}),
])
def test_built_in_kinds_get_their_zero_status(res: Any, expected: dict[str, Any]) -> None:
    obj = res.model.model_validate({"apiVersion": res.api_version, "kind": res.kind, "metadata": {"name": "x"},
                                    "spec": {}, "status": {"replicas": 3, "attached": True, "extra": 1}})
    assert reset_status_on_create(obj).to_dict()["status"] == expected


@pytest.mark.parametrize("kind", ["Pod", "ReplicaSet", "VolumeAttachment"])
def test_a_custom_resource_named_like_a_built_in_kind_keeps_its_status(kind: str) -> None:
    """Its status is its own (and with a status subresource, the gateway has already dropped it)."""
    model = document_model("serving.example.com/v1", kind)
    obj = model.model_validate({"apiVersion": "serving.example.com/v1", "kind": kind, "metadata": {"name": "x"},
                                "status": {"phase": "Ready"}})
    assert reset_status_on_create(obj).to_dict()["status"] == {"phase": "Ready"}


def gated_pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


ZONE_A = {"key": "zone", "operator": "In", "values": ["a"]}
DISK = {"key": "disk", "operator": "Exists"}
GATES = [{"name": "a"}, {"name": "b"}]


def causes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.field or "", c.message or "") for c in immutable_field_causes("Pod", old, new)]


def test_gates_may_only_be_removed() -> None:
    assert causes(gated_pod(schedulingGates=GATES), gated_pod(schedulingGates=GATES[1:])) == []
    assert causes(gated_pod(schedulingGates=GATES), gated_pod()) == []
    assert causes(gated_pod(schedulingGates=GATES[:1]), gated_pod(schedulingGates=[*GATES[:1], {"name": "c"}])) == [
        ("spec.schedulingGates[1].name", "Forbidden: only deletion is allowed, but found new scheduling gate 'c'")]
    assert causes(gated_pod(), gated_pod(schedulingGates=GATES[:1]))[0][0] == "spec.schedulingGates[0].name"


def test_a_gated_pods_node_selector_and_required_node_affinity_may_only_narrow() -> None:
    old = gated_pod(schedulingGates=GATES, nodeSelector={"disk": "ssd"}, affinity=required({"matchExpressions": [ZONE_A]}))
    narrower = gated_pod(schedulingGates=GATES, nodeSelector={"disk": "ssd", "zone": "a"},
                         affinity=required({"matchExpressions": [ZONE_A, DISK]}))
    assert causes(old, narrower) == []
    assert causes(gated_pod(schedulingGates=GATES), narrower) == []  # no terms before: anything goes
    changed = causes(old, gated_pod(schedulingGates=GATES, nodeSelector={"disk": "hdd"},
                                    affinity=required({"matchExpressions": [DISK]})))
    assert [field for field, _ in changed] == [
        "spec.nodeSelector", "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"]
    assert "only additions to spec.nodeSelector are allowed (no mutations or deletions)" in changed[0][1]
    more_terms = causes(old, gated_pod(schedulingGates=GATES, nodeSelector={"disk": "ssd"},
                                       affinity=required({"matchExpressions": [ZONE_A]}, {"matchExpressions": [DISK]})))
    assert "no additions/deletions to non-empty NodeSelectorTerms list are allowed" in more_terms[0][1]


def test_an_ungated_pods_node_selector_and_affinity_stay_immutable() -> None:
    old = gated_pod(nodeSelector={"disk": "ssd"})
    for new in (gated_pod(nodeSelector={"disk": "ssd", "zone": "a"}), gated_pod(nodeSelector={"disk": "ssd"},
                                                                                 affinity=required({"matchExpressions": [ZONE_A]}))):
        assert [field for field, _ in causes(old, new)] == ["spec"]
