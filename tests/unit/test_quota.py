"""ResourceQuota rules without I/O: what pods, services, claims and other kinds use (kube's quota evaluators),
scopes, quantities summed exactly in kube's canonical form, the admission's refusals with kube's messages
(CheckRequest), and the quota objects' own validation (ValidateResourceQuota)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import errors, quantity, quota
from kubelite.api.core import Pod
from kubelite.api.quota_rules import validate_resource_quota
from kubelite.registry import resourcequota
from kubelite.registry.strategy import default_pod

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None, **spec: Any) -> Pod:
    return default_pod(Pod.model_validate({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": f"c{i}", "image": "x:1", **c} for i, c in enumerate(containers)],
                 "initContainers": [{"name": f"i{i}", "image": "x:1", **c} for i, c in enumerate(init or [])] or None,
                 **spec}}))


def res(requests: dict[str, Any] | None = None, limits: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"resources": {k: v for k, v in (("requests", requests), ("limits", limits)) if v}}


def rq(hard: dict[str, Any], used: dict[str, Any] | None = None, *, name: str = "q", **spec: Any) -> dict[str, Any]:
    """A quota as the controller leaves it: status.hard = spec.hard, status.used (zeros by default)."""
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "default"},
            "spec": {"hard": hard, **spec},
            "status": {"hard": hard, "used": used if used is not None else {k: "0" for k in hard}}}


# -- quantities ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "fmt", "text"), [
    (Fraction(0), "DecimalSI", "0"), (Fraction(2), "DecimalSI", "2"), (Fraction(1000), "DecimalSI", "1k"),
    (Fraction(1500), "DecimalSI", "1500"), (Fraction(3, 2), "DecimalSI", "1500m"), (Fraction(1, 10), "DecimalSI", "100m"),
    (Fraction(2**29), "BinarySI", "512Mi"), (Fraction(1536), "BinarySI", "1536"), (Fraction(512), "BinarySI", "512"),
    (Fraction(3 * 2**30), "BinarySI", "3Gi"), (Fraction(2000), "DecimalExponent", "2e3"),
])
def test_canonical_quantities(value: Fraction, fmt: str, text: str) -> None:
    assert quantity.canonical(value, fmt) == text


def test_sums_keep_the_first_non_zero_terms_format() -> None:
    assert quota.add({"memory": "0"}, {"memory": "256Mi"}) == {"memory": "256Mi"}
    assert quota.add({"memory": "512Mi"}, {"memory": "512Mi"}) == {"memory": "1Gi"}
    assert quota.add({"cpu": "500m"}, {"cpu": "1.5", "pods": "1"}) == {"cpu": "2", "pods": "1"}
    assert quota.subtract_non_negative({"a": "1", "b": "5"}, {"a": "3"}) == {"a": "0", "b": "5"}


# -- usage -----------------------------------------------------------------------------------------------

def test_pod_usage_aggregates_containers_init_containers_and_sidecars() -> None:
    p = pod(res({"cpu": "250m", "memory": "64Mi"}, {"cpu": "500m", "memory": "128Mi"}),
            res({"cpu": "250m", "memory": "64Mi", "example.com/gpu": "1", "hugepages-2Mi": "4Mi"},
                {"example.com/gpu": "1", "hugepages-2Mi": "4Mi"}),
            init=[res({"cpu": "1"}), {**res({"memory": "32Mi"}), "restartPolicy": "Always"}])
    assert quota.pod_usage(p, now=NOW) == {
        "count/pods": "1", "pods": "1",
        "cpu": "1", "requests.cpu": "1",  # the plain init container's 1 (beside the sidecar's 0) beats 500m
        "memory": "160Mi", "requests.memory": "160Mi", "limits.cpu": "500m", "limits.memory": "128Mi",
        "requests.example.com/gpu": "1", "hugepages-2Mi": "4Mi", "requests.hugepages-2Mi": "4Mi"}


def test_terminal_and_long_terminating_pods_count_only_as_objects() -> None:
    done = pod(res({"cpu": "1"})).model_copy(update={"status": Pod.model_validate(
        {"metadata": {"name": "x"}, "spec": {"containers": []}, "status": {"phase": "Succeeded"}}).status})
    assert quota.pod_usage(done, now=NOW) == {"count/pods": "1"}
    leaving = pod(res({"cpu": "1"}))
    leaving.metadata.deletion_timestamp, leaving.metadata.deletion_grace_period_seconds = NOW - timedelta(seconds=31), 30
    assert quota.pod_usage(leaving, now=NOW) == {"count/pods": "1"}
    assert quota.pod_usage(leaving, now=NOW - timedelta(seconds=2))["pods"] == "1"  # still within its grace


def test_service_usage_counts_node_ports_per_port_and_load_balancers() -> None:
    ports = [{"port": 80, "nodePort": 30080}, {"port": 443}]
    assert quota.service_usage({"spec": {"type": "ClusterIP", "ports": ports}}) == {
        "count/services": "1", "services": "1", "services.loadbalancers": "0", "services.nodeports": "0"}
    assert quota.service_usage({"spec": {"type": "NodePort", "ports": ports}})["services.nodeports"] == "2"
    lb = quota.service_usage({"spec": {"type": "LoadBalancer", "ports": ports, "allocateLoadBalancerNodePorts": False}})
    assert (lb["services.loadbalancers"], lb["services.nodeports"]) == ("1", "1")


def test_claim_usage_by_storage_class_rounded_to_bytes() -> None:
    claim = {"metadata": {"name": "c"}, "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1.5"}}}}
    assert quota.claim_usage(claim) == {
        "persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1",
        "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1", "requests.storage": "2",
        "fast.storageclass.storage.k8s.io/requests.storage": "2"}


def test_object_counts_and_legacy_names() -> None:
    assert quota.usage("configmaps", "", {}, now=NOW) == {"count/configmaps": "1", "configmaps": "1"}
    assert quota.usage("deployments", "apps", {}, now=NOW) == {"count/deployments.apps": "1"}
    assert quota.matching_resources("deployments", "apps", ["pods", "count/deployments.apps", "count/jobs.batch"]) == [
        "count/deployments.apps"]
    assert quota.matching_resources("pods", "", ["count/pods", "requests.nvidia.com/gpu", "services", "hugepages-1Gi"]) == [
        "count/pods", "hugepages-1Gi", "requests.nvidia.com/gpu"]


# -- scopes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("selector", "spec", "matched"), [
    ({"scopeName": "Terminating", "operator": "Exists"}, {"activeDeadlineSeconds": 10}, True),
    ({"scopeName": "NotTerminating", "operator": "Exists"}, {"activeDeadlineSeconds": 10}, False),
    ({"scopeName": "BestEffort", "operator": "Exists"}, {}, True),
    ({"scopeName": "NotBestEffort", "operator": "Exists"}, {}, False),
    ({"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}, {"priorityClassName": "high"}, True),
    ({"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}, {}, False),
    ({"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}, {}, True),
    ({"scopeName": "PriorityClass", "operator": "Exists"}, {"priorityClassName": "low"}, True),
    ({"scopeName": "PriorityClass", "operator": "DoesNotExist"}, {"priorityClassName": "low"}, False),
    ({"scopeName": "CrossNamespacePodAffinity", "operator": "Exists"},
     {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
         {"topologyKey": "k", "namespaceSelector": {}}]}}}, True),
])
def test_pod_scopes(selector: dict[str, Any], spec: dict[str, Any], matched: bool) -> None:
    assert quota.matches_scope("pods", "", selector, pod({}, **spec), now=NOW) is matched


def test_a_scoped_quota_matches_no_other_kind() -> None:
    scoped = rq({"count/services": "1"}, scopes=["BestEffort"])
    assert not quota.matches("services", "", scoped, {"spec": {}}, now=NOW)


# -- admission -------------------------------------------------------------------------------------------

def refusal(plural: str, quotas: list[dict[str, Any]], obj: Any, old: Any = None) -> str:
    with pytest.raises(errors.ApiError) as caught:
        resourcequota.charge(plural, "", quotas, obj, old, name="p", now=NOW)
    assert caught.value.code == 403
    return caught.value.status.message


def test_exceeding_is_refused_with_kubes_message() -> None:
    quotas = [rq({"pods": "2", "requests.cpu": "1"}, {"pods": "2", "requests.cpu": "500m"})]
    assert refusal("pods", quotas, pod(res({"cpu": "600m"}))) == (
        'pods "p" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=600m, used: pods=2,requests.cpu=500m, '
        "limited: pods=2,requests.cpu=1")


def test_a_quota_on_cpu_needs_every_container_to_name_it() -> None:
    quotas = [rq({"requests.cpu": "2", "limits.memory": "1Gi"})]
    assert refusal("pods", quotas, pod(res({"cpu": "1"}), {}, init=[{}])) == (
        'pods "p" is forbidden: failed quota: q: must specify limits.memory for: c0,c1,i0; requests.cpu for: c1,i0')


def test_a_quota_whose_usage_is_unknown_refuses() -> None:
    quota_doc = rq({"pods": "2", "count/pods": "5"}, {"pods": "0"})
    assert refusal("pods", [quota_doc], pod({})) == (
        'pods "p" is forbidden: status unknown for quota: q, resources: count/pods,pods')
    unsynced = {**quota_doc, "status": {}}  # the controller has not seen it: it counts nothing yet
    assert resourcequota.charge("pods", "", [unsynced], pod({}), name="p", now=NOW) == {}


def test_a_charge_adds_to_every_matching_quota_and_skips_the_others() -> None:
    quotas = [rq({"pods": "3"}, name="a"), rq({"pods": "3"}, name="b", scopes=["Terminating"]),
              rq({"services": "1"}, name="c")]
    charged = resourcequota.charge("pods", "", quotas, pod({}), name="p", now=NOW)
    assert list(charged) == [0] and charged[0]["status"]["used"] == {"pods": "1"}
    assert quotas[0]["status"]["used"] == {"pods": "0"}  # the documents read are left as they were


def test_a_service_update_is_charged_its_growth_only() -> None:
    quotas = [rq({"services.nodeports": "1", "services": "5"}, {"services.nodeports": "0", "services": "1"})]
    before = {"spec": {"type": "ClusterIP", "ports": [{"port": 80}, {"port": 81}]}}
    after = {"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}}
    assert refusal("services", quotas, after, before) == (
        'services "p" is forbidden: exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, '
        "limited: services.nodeports=1")
    assert resourcequota.charge("services", "", quotas, before, after, name="p", now=NOW) == {}  # back: no charge
    assert resourcequota.charge("pods", "", [rq({"pods": "0"})], pod({}), pod({}), name="p", now=NOW) == {}


@settings(max_examples=60, deadline=None)
@given(hard=st.integers(0, 5), cpus=st.lists(st.sampled_from(["100m", "250m", "0.5", "1"]), max_size=12))
def test_admission_never_lets_used_pass_hard(hard: int, cpus: list[str]) -> None:
    """Pods created one after another, each charged on the last charge's result: used never passes hard,
    and what was admitted is exactly what used says."""
    doc = rq({"pods": str(hard), "requests.cpu": "2"})
    admitted: list[str] = []
    for cpu in cpus:
        try:
            charged = resourcequota.charge("pods", "", [doc], pod(res({"cpu": cpu})), name="p", now=NOW)
        except errors.ApiError:
            continue
        doc = charged[0]
        admitted.append(cpu)
    used = doc["status"]["used"]
    assert quota.value(used["pods"]) == len(admitted) <= hard
    assert quota.value(used["requests.cpu"]) == sum(quota.value(c) for c in admitted) <= 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["100m", "64Mi", "1", "1.5Gi", "250m", "3"]), max_size=8))
def test_sums_are_exact_and_order_free(values: list[str]) -> None:
    total = quota.add({}, {})
    for v in values:
        total = quota.add(total, {"x": v})
    assert quota.value(total.get("x", "0")) == sum((quota.value(v) for v in values), Fraction(0))


# -- validation ------------------------------------------------------------------------------------------

def causes(spec: dict[str, Any], status: dict[str, Any] | None = None) -> list[tuple[str | None, str]]:
    doc = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": spec, "status": status or {}}
    return [(c.field, c.message) for c in validate_resource_quota(doc)]


def test_valid_quotas() -> None:
    assert causes({"hard": {"pods": "10", "requests.cpu": "4", "count/deployments.apps": "2",
                            "gold.storageclass.storage.k8s.io/requests.storage": "10Gi", "requests.nvidia.com/gpu": "4"},
                   "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                                           "values": ["high"]}]}}) == []
    assert causes({"hard": {"pods": "1"}, "scopes": ["BestEffort", "NotTerminating"]}) == []


def test_invalid_quotas_name_the_field() -> None:
    assert causes({"hard": {"pods": "1.5", "foo": "1", "storage": "1Gi", "cpu": "-1"}}) == [
        ("spec.hard[pods]", 'Invalid value: "1.5": must be an integer'),
        ("spec.hard[foo]", 'Invalid value: "foo": must be a standard resource type or fully qualified'),
        ("spec.hard[storage]", 'Invalid value: "storage": must be a standard resource for quota'),
        ("spec.hard[cpu]", 'Invalid value: "-1": must be greater than or equal to 0')]
    assert causes({"hard": {"services": "1"}, "scopes": ["BestEffort", "NotBestEffort", "Nope"]}) == [
        ("spec.scopes", 'Invalid value: ["BestEffort", "NotBestEffort", "Nope"]: unsupported scope applied to resource'),
        ("spec.scopes", 'Invalid value: ["BestEffort", "NotBestEffort", "Nope"]: unsupported scope applied to resource'),
        ("spec.scopes", 'Invalid value: ["BestEffort", "NotBestEffort", "Nope"]: unsupported scope'),
        ("spec.scopes", 'Invalid value: ["BestEffort", "NotBestEffort", "Nope"]: conflicting scopes')]
    found = causes({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
        {"scopeName": "BestEffort", "operator": "In", "values": ["x"]},
        {"scopeName": "PriorityClass", "operator": "NotIn"},
        {"scopeName": "PriorityClass", "operator": "Exists", "values": ["x"]},
        {"scopeName": "PriorityClass", "operator": "Gt", "values": ["x"]}]}})
    path = "spec.scopeSelector.matchExpressions"
    assert [f for f, _ in found] == [f"{path}.operator", f"{path}.values", f"{path}.values", f"{path}.operator"]
    assert found[3][1] == 'Invalid value: "Gt": not a valid selector operator'
    assert causes({"hard": {"pods": "1"}}, {"used": {"pods": "-1"}}) == [
        ("status.used[pods]", 'Invalid value: "-1": must be greater than or equal to 0')]


def test_an_update_into_a_quota_is_charged_in_full_and_events_never() -> None:
    """A Service the quota did not count before (its claim grew into a storage class quota, here: a scoped
    match) pays its whole usage; growth only when the old object was counted too."""
    lb = rq({"services.loadbalancers": "1"}, {"services.loadbalancers": "0"})
    before = {"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}
    after = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    charged = resourcequota.charge("services", "", [lb], after, before, name="s", now=NOW)
    assert charged[0]["status"]["used"] == {"services.loadbalancers": "1"}
    assert resourcequota.charge("events", "", [rq({"count/events": "0"})], {}, name="e", now=NOW) == {}
    assert quota.matching_resources("events", "", ["count/events"]) == []


def test_an_unreadable_stored_quota_is_skipped() -> None:
    broken = rq({"pods": "1"}, {"pods": "lots"})
    assert resourcequota.charge("pods", "", [broken], pod({}), name="p", now=NOW) == {}
