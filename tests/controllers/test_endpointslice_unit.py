"""The EndpointSlice/Endpoints plan, pure: conditions, named ports, the 100-endpoint split,
no churn, the placeholder slice, and (hypothesis) every counted pod exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.endpointslice_plan import (
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    MANAGED_BY,
    desired_endpoints,
    plan_slices,
)
from kubelite.api.core import Pod


def service(**spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"app": "web"})
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u-svc", "labels": {"tier": "front"}},
            "spec": spec}


def pod(name: str, *, ip: str | None = "10.1.0.1", ready: bool = True, terminating: bool = False,
        phase: str = "Running", port_name: str = "web", port: int = 8080, app: str = "web", **spec: Any) -> Pod:
    doc: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": {"app": app}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "x",
                                                       "ports": [{"name": port_name, "containerPort": port}]}], **spec},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    if ip:
        doc["status"]["podIP"] = ip
    if terminating:
        doc["metadata"]["deletionTimestamp"] = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    return Pod.model_validate(doc)


def test_conditions_named_ports_labels_and_who_counts() -> None:
    pods = [pod("a", ip="10.1.0.1"), pod("b", ip="10.1.0.2", ready=False), pod("c", ip="10.1.0.3", terminating=True),
            pod("d", ip=None), pod("e", ip="10.1.0.5", phase="Succeeded"), pod("f", ip="10.1.0.6", app="other")]
    steps = plan_slices(service(), pods, [])
    assert len(steps.create) == 1 and not steps.update and not steps.delete
    created = steps.create[0]
    assert created["metadata"]["generateName"] == "web-"
    assert created["metadata"]["labels"] == {"tier": "front", LABEL_SERVICE_NAME: "web", LABEL_MANAGED_BY: MANAGED_BY}
    assert created["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    conditions = {e["targetRef"]["name"]: e["conditions"] for e in created["endpoints"]}
    assert conditions == {"a": {"ready": True, "serving": True, "terminating": False},
                          "b": {"ready": False, "serving": False, "terminating": False},
                          "c": {"ready": False, "serving": True, "terminating": True}}
    # publishNotReadyAddresses: every counted pod is ready
    published = plan_slices(service(publishNotReadyAddresses=True), pods, []).create[0]
    assert all(e["conditions"]["ready"] for e in published["endpoints"])
    legacy = desired_endpoints(service(), pods)
    assert [a["ip"] for a in legacy["subsets"][0]["addresses"]] == ["10.1.0.1"]
    assert [a["ip"] for a in legacy["subsets"][0]["notReadyAddresses"]] == ["10.1.0.2"]  # terminating c left out
    assert legacy["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_pods_with_different_named_ports_go_to_different_slices() -> None:
    pods = [pod("a", ip="10.1.0.1", port=8080), pod("b", ip="10.1.0.2", port=9090)]
    created = plan_slices(service(), pods, []).create
    assert sorted(s["ports"][0]["port"] for s in created) == [8080, 9090]
    assert len(desired_endpoints(service(), pods)["subsets"]) == 2


def test_hostname_for_pods_naming_the_service_as_subdomain() -> None:
    pods = [pod("a", hostname="a0", subdomain="web"), pod("b", ip="10.1.0.2", hostname="b0", subdomain="other")]
    endpoints = {e["targetRef"]["name"]: e for e in plan_slices(service(), pods, []).create[0]["endpoints"]}
    assert endpoints["a"]["hostname"] == "a0" and "hostname" not in endpoints["b"]


def _named(slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for index, slice_ in enumerate(slices):
        slice_["metadata"] = {**slice_["metadata"], "name": f"web-{index}", "resourceVersion": "1"}
    return slices


def test_250_endpoints_split_in_100s_and_a_scale_down_keeps_the_rest_in_place() -> None:
    pods = [pod(f"p{i:03}", ip=f"10.1.{i // 200}.{i % 200 + 1}") for i in range(250)]
    slices = _named(plan_slices(service(), pods, []).create)
    assert sorted(len(s["endpoints"]) for s in slices) == [50, 100, 100]
    assert plan_slices(service(), pods, slices).empty  # steady state: no writes
    survivors = pods[:120]  # keeps p000..p119: the first slice whole, 20 of the second
    steps = plan_slices(service(), survivors, slices)
    assert steps.delete == ["web-2"] and [s["metadata"]["name"] for s in steps.update] == ["web-1"]
    assert len(steps.update[0]["endpoints"]) == 20 and not steps.create


def test_no_pods_left_keeps_one_empty_slice() -> None:
    slices = _named(plan_slices(service(), [pod("a")], []).create)
    steps = plan_slices(service(), [], slices)
    assert not steps.delete and steps.update[0]["endpoints"] == [] and steps.update[0]["ports"] == []
    assert plan_slices(service(), [], []).create[0]["endpoints"] == []  # a new service without pods too


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.sampled_from([8080, 9090])), max_size=260),
       st.integers(min_value=0, max_value=260))
def test_every_counted_pod_is_in_exactly_one_slice(shape: list[tuple[bool, bool, int]], keep: int) -> None:
    pods = [pod(f"p{i:03}", ip=f"10.2.{i // 250}.{i % 250 + 1}", ready=r, terminating=t, port=p)
            for i, (r, t, p) in enumerate(shape)]
    slices = _named(plan_slices(service(), pods, []).create)
    later = pods[:keep]
    steps = plan_slices(service(), later, slices)
    final = {s["metadata"]["name"]: s for s in slices if s["metadata"]["name"] not in steps.delete}
    final.update({s["metadata"]["name"]: s for s in steps.update})
    result = list(final.values()) + steps.create
    names = [e["targetRef"]["name"] for s in result for e in s["endpoints"]]
    assert sorted(names) == sorted(p.metadata.name for p in later)
    assert all(len(s["endpoints"]) <= 100 for s in result)
    for s in result:  # each endpoint's pod serves the slice's port
        by_name = {p.metadata.name: p for p in later}
        for e in s["endpoints"]:
            assert s["ports"][0]["port"] == by_name[e["targetRef"]["name"]].spec.containers[0].ports[0].container_port
