"""Kubernetes' SetDefaults_Pod: a Pod container's limits stand in for the requests it lacks (containers and
init containers), and ``enableServiceLinks`` is true unless set; Pods only, never pod templates; for the
gateway's bodies and for every Store writer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import Container, Pod, PodSpec, ResourceRequirements
from kubelite.api.defaults import requests_from_limits, with_defaults
from kubelite.registry.strategy import default_pod

NAMES = st.sampled_from(["cpu", "memory", "ephemeral-storage", "example.com/gpu", "hugepages-2Mi"])
QUANTITIES = st.sampled_from(["1", "250m", "64Mi", "2Gi", "0"])
LISTS = st.dictionaries(NAMES, QUANTITIES, max_size=5)


def test_a_missing_request_is_the_limit_and_a_present_one_is_kept() -> None:
    assert requests_from_limits(None, {"cpu": "1", "memory": "1Gi"}) == {"cpu": "1", "memory": "1Gi"}
    assert requests_from_limits({"cpu": "100m"}, {"cpu": "1", "memory": "1Gi"}) == {"cpu": "100m", "memory": "1Gi"}
    assert requests_from_limits({"cpu": "100m"}, {"cpu": "1"}) is None  # nothing lacks: nothing to store
    assert requests_from_limits({"cpu": "100m"}, None) is None and requests_from_limits(None, {}) is None
    assert requests_from_limits("oops", {"cpu": "1"}) is None  # not maps: left for validation to report
    assert requests_from_limits(None, ["cpu"]) is None


@given(requests=st.none() | LISTS, limits=LISTS)
def test_requests_from_limits_invariants(requests: dict[str, str] | None, limits: dict[str, str]) -> None:
    """Every limit gets a request; no request sent is changed or dropped; a second pass changes nothing."""
    defaulted = requests_from_limits(requests, limits)
    result = (requests or {}) if defaulted is None else defaulted
    assert set(result) == set(requests or {}) | set(limits)
    assert all(result[name] == value for name, value in (requests or {}).items())
    assert all(result[name] == limits[name] for name in set(limits) - set(requests or {}))
    assert (defaulted is None) == (set(limits) <= set(requests or {}))
    assert requests_from_limits(result, limits) is None


def _containers(doc: dict[str, Any], key: str = "containers") -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = doc["spec"][key]
    return containers


def test_a_pod_body_is_defaulted_and_a_template_is_not() -> None:
    resources = {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}
    spec = {"initContainers": [{"name": "i", "image": "x:1", "resources": {"limits": {"memory": "32Mi"}}}],
            "containers": [{"name": "c", "image": "x:1", "resources": resources}, {"name": "d", "image": "x:1"}]}
    pod = with_defaults("Pod", {"apiVersion": "v1", "kind": "Pod", "spec": spec})
    assert pod["spec"]["enableServiceLinks"] is True
    assert _containers(pod)[0]["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}
    assert "resources" not in _containers(pod)[1]
    assert _containers(pod, "initContainers")[0]["resources"]["requests"] == {"memory": "32Mi"}
    assert resources["requests"] == {"cpu": "100m"}  # the document sent is not changed

    deployment = with_defaults("Deployment", {"spec": {"template": {"spec": spec}}})
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"] == resources
    assert "enableServiceLinks" not in deployment["spec"]["template"]["spec"]


def test_every_writers_pod_gets_the_default() -> None:
    """What the Store applies to a controller's pod: the same rule, on the model, copying only when needed."""
    plain = Pod(metadata={"name": "p"}, spec=PodSpec(containers=[Container(name="c", image="x:1")]))
    linked = default_pod(plain)
    assert linked.spec.enable_service_links is True and plain.spec.enable_service_links is None
    assert default_pod(linked) is linked
    unlinked = Pod(metadata={"name": "p"}, spec=PodSpec(containers=[Container(name="c", image="x:1")],
                                                        enable_service_links=False))
    assert default_pod(unlinked) is unlinked  # an explicit false is kept
    limited = Pod(metadata={"name": "p"}, spec=PodSpec(
        init_containers=[Container(name="i", image="x:1", resources=ResourceRequirements(limits={"cpu": "1"}))],
        containers=[Container(name="c", image="x:1",
                              resources=ResourceRequirements(requests={"memory": "8Mi"},
                                                             limits={"cpu": "2", "memory": "16Mi"}))]))
    defaulted = default_pod(limited)
    assert defaulted is not limited
    assert defaulted.spec.containers[0].resources is not None
    assert defaulted.spec.containers[0].resources.requests == {"memory": "8Mi", "cpu": "2"}
    assert defaulted.spec.init_containers is not None and defaulted.spec.init_containers[0].resources is not None
    assert defaulted.spec.init_containers[0].resources.requests == {"cpu": "1"}
    assert limited.spec.containers[0].resources is not None
    assert limited.spec.containers[0].resources.requests == {"memory": "8Mi"}  # the writer's pod is not changed
    assert default_pod(defaulted) is defaulted
