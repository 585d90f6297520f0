"""kubectl columns of the API-extension and admission kinds (kubelite/registry/printers.py), cell by
cell as kube-aggregator's APIService table and pkg/printers/internalversion compute them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.registry.printers import (
    admission_policy_binding_row,
    admission_policy_row,
    apiservice_row,
    csr_condition,
    csr_row,
    webhook_configuration_row,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
META = {"name": "x", "creationTimestamp": "2026-12-01T11:55:00Z"}


def available(**condition: Any) -> dict[str, Any]:
    return {"conditions": [{"type": "Other", "status": "True"}, {"type": "Available", **condition}]}


@pytest.mark.parametrize(("spec", "status", "want"), [
    ({}, available(status="True", reason="Local"), ["Local", "True"]),
    ({"service": {"namespace": "wardle", "name": "api"}}, available(status="False", reason="FailedDiscoveryCheck"),
     ["wardle/api", "False (FailedDiscoveryCheck)"]),
    ({"service": {"namespace": "w", "name": "api"}}, available(status="False"), ["w/api", "False"]),
    ({}, {}, ["Local", "Unknown"]),
])
def test_apiservice_service_and_available(spec: dict[str, Any], status: dict[str, Any], want: list[str]) -> None:
    assert apiservice_row({"metadata": META, "spec": spec, "status": status}, NOW) == ["x", *want, "5m"]


@pytest.mark.parametrize(("types", "certificate", "want"), [
    ([], None, "Pending"),
    (["Approved"], "Y2VydA==", "Approved,Issued"),
    (["Approved", "Denied"], None, "Denied"),
    (["Approved", "Failed"], None, "Approved,Failed"),
    (["SomethingNew"], None, "Pending"),  # unknown condition types are ignored, as kube 1.32 does
])
def test_csr_condition(types: list[str], certificate: str | None, want: str) -> None:
    status: dict[str, Any] = {"conditions": [{"type": t, "status": "True"} for t in types]}
    if certificate:
        status["certificate"] = certificate
    assert csr_condition({"status": status}) == want


def test_csr_row() -> None:
    spec = {"signerName": "example.com/s", "username": "ann", "expirationSeconds": 90000}
    assert csr_row({"metadata": META, "spec": spec}, NOW) == ["x", "5m", "example.com/s", "ann", "25h", "Pending"]
    assert csr_row({"metadata": META, "spec": {"username": "ann"}}, NOW)[2:5] == ["<none>", "ann", "<none>"]


def test_webhook_configurations_count_their_webhooks() -> None:
    assert webhook_configuration_row({"metadata": META, "webhooks": [{}, {}]}, NOW) == ["x", 2, "5m"]
    assert webhook_configuration_row({"metadata": META}, NOW) == ["x", 0, "5m"]


def test_admission_policy_and_binding() -> None:
    policy = {"metadata": META, "spec": {"validations": [{}, {}, {}],
                                         "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}}}
    assert admission_policy_row(policy, NOW) == ["x", 3, "v1/ConfigMap", "5m"]
    assert admission_policy_row({"metadata": META, "spec": {}}, NOW)[1:3] == [0, "<unset>"]

    def param(ref: dict[str, Any] | None) -> Any:
        spec: dict[str, Any] = {"policyName": "p", **({"paramRef": ref} if ref is not None else {})}
        row = admission_policy_binding_row({"metadata": META, "spec": spec}, NOW)
        assert row[1] == "p"
        return row[2]

    assert param(None) == "<unset>"
    assert param({"name": "limits", "namespace": "team"}) == "team/limits"
    assert param({"name": "limits"}) == "*/limits"  # it may be cluster-scoped: kube cannot tell here
    assert param({"selector": {"matchLabels": {"b": "2", "a": "1"},
                               "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}}) == (
        "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},"
        "MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}")
