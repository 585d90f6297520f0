"""LimitRange admission without I/O (kube-apiserver's LimitRanger plugin): container defaults and their
annotation, the min/max/ratio constraints per container and per pod with kube's messages, claims' storage
bounds, and the LimitRange objects' own validation (ValidateLimitRange)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.api.workload_rules import default_limit_range, validate_limit_range
from kubelite.registry import limitranger
from kubelite.registry.strategy import default_pod


def limit_range(*limits: dict[str, Any], name: str = "limits") -> dict[str, Any]:
    """As stored: with SetDefaults_LimitRangeItem applied."""
    return default_limit_range({"apiVersion": "v1", "kind": "LimitRange",
                                "metadata": {"name": name, "namespace": "default"}, "spec": {"limits": list(limits)}})


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> Pod:
    return default_pod(Pod.model_validate({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": f"c{i}", "image": "x:1", **c} for i, c in enumerate(containers)],
                 "initContainers": [{"name": f"i{i}", "image": "x:1", **c} for i, c in enumerate(init or [])] or None},
    }))


def resources(p: Pod, index: int = 0) -> dict[str, Any]:
    found = p.spec.containers[index].resources
    return found.to_dict() if found is not None else {}


def refusal(p: Pod, *ranges: dict[str, Any]) -> str:
    with pytest.raises(errors.ApiError) as refused:
        limitranger.admit_pod(p, list(ranges))
    assert refused.value.code == 403 and refused.value.reason == "Forbidden"
    return str(refused.value.status.message)


CONTAINER_DEFAULTS = {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                      "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}


def test_container_defaults_fill_what_is_missing_and_say_so() -> None:
    admitted = limitranger.admit_pod(pod({}, {"resources": {"requests": {"cpu": "50m"}}},
                                         init=[{"resources": {"limits": {"memory": "64Mi"}}}]),
                                     [limit_range(CONTAINER_DEFAULTS)])
    assert resources(admitted, 0) == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert resources(admitted, 1) == {"requests": {"cpu": "50m", "memory": "128Mi"},
                                      "limits": {"cpu": "500m", "memory": "256Mi"}}
    init = admitted.spec.init_containers[0].resources  # type: ignore[index]
    assert init is not None and init.to_dict() == {"requests": {"memory": "64Mi", "cpu": "100m"},  # SetDefaults_Pod
                                                   "limits": {"memory": "64Mi", "cpu": "500m"}}
    assert (admitted.metadata.annotations or {})[limitranger.ANNOTATION] == (
        "LimitRanger plugin set: cpu, memory request for container c0; cpu, memory limit for container c0; "
        "memory request for container c1; cpu, memory limit for container c1; cpu request for init container i0; "
        "cpu limit for init container i0")


def test_nothing_to_default_leaves_the_pod_as_it_is() -> None:
    complete = pod({"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}})
    assert limitranger.admit_pod(complete, [limit_range(CONTAINER_DEFAULTS)]) is complete
    assert limitranger.admit_pod(complete, []) is complete


def test_container_constraints_with_kubes_messages() -> None:
    bounds = {**limit_range(), "spec": {"limits": [  # as written, not defaulted: no defaults to fill in
        {"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "2"}}]}}
    assert refusal(pod({}), bounds) == (
        'pods "p" is forbidden: [minimum cpu usage per Container is 100m.  No request is specified, '
        "maximum memory usage per Container is 1Gi.  No limit is specified, "
        "cpu max limit to request ratio per Container is 2, but no request is specified or request is 0]")
    over = pod({"resources": {"requests": {"cpu": "200m"}, "limits": {"cpu": "800m", "memory": "2Gi"}}})
    assert refusal(over, bounds) == (
        'pods "p" is forbidden: [maximum memory usage per Container is 1Gi, but limit is 2Gi, '
        "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000]")
    fits = pod({"resources": {"requests": {"cpu": "200m"}, "limits": {"cpu": "400m", "memory": "1Gi"}}})
    assert limitranger.admit_pod(fits, [bounds]) is fits
    below = pod({"resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "100m", "memory": "1Gi"}}})
    assert refusal(below, bounds) == 'pods "p" is forbidden: minimum cpu usage per Container is 100m, but request is 50m'


def test_pod_constraints_count_init_containers_as_kube_does() -> None:
    """A Pod limit is checked against PodRequests/PodLimits: a big init container counts once, not summed."""
    bound = limit_range({"type": "Pod", "max": {"cpu": "2"}})
    two = {"resources": {"limits": {"cpu": "800m"}}}
    assert limitranger.admit_pod(pod(two, two, init=[{"resources": {"limits": {"cpu": "2"}}}]), [bound])
    refused = refusal(pod(two, two, init=[{"resources": {"limits": {"cpu": "3"}}}]), bound)
    assert refused == 'pods "p" is forbidden: maximum cpu usage per Pod is 2, but limit is 3'
    assert refusal(pod(two, two, two), bound) == 'pods "p" is forbidden: maximum cpu usage per Pod is 2, but limit is 2400m'


def test_the_first_refusing_range_is_the_answer() -> None:
    loose = limit_range({"type": "Container", "max": {"cpu": "4"}}, name="a")
    tight = limit_range({"type": "Container", "max": {"cpu": "1"}}, name="b")
    assert refusal(pod({"resources": {"limits": {"cpu": "2"}}}), loose, tight) == (
        'pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2')


def test_claims_storage_bounds() -> None:
    bounds = limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    claim = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    with pytest.raises(errors.ApiError) as refused:
        limitranger.validate_claim(claim, [bounds])
    assert refused.value.status.message == ('persistentvolumeclaims "data" is forbidden: maximum storage usage per '
                                            "PersistentVolumeClaim is 10Gi, but request is 20Gi")
    claim["spec"]["resources"]["requests"]["storage"] = "5Gi"
    limitranger.validate_claim(claim, [bounds])


def test_limit_range_validation() -> None:
    bad = _as_written(
        {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"memory": "1Gi"},
         "defaultRequest": {"memory": "2Gi"}, "maxLimitRequestRatio": {"memory": "500m"}},
        {"type": "Container"},
        {"type": "Pod", "default": {"cpu": "1"}},
        {"type": "PersistentVolumeClaim", "max": {"cpu": "1"}},
        {"type": "Container", "default": {"example.com/gpu": "2"}, "defaultRequest": {"example.com/gpu": "1"}},
    )
    causes = [(c.field, c.message) for c in validate_limit_range(bad)]
    assert causes == [
        ("spec.limits[0].min[cpu]", 'Invalid value: "2": min value 2 is greater than max value 1'),
        ("spec.limits[0].defaultRequest[memory]",
         'Invalid value: "2Gi": default request value 2Gi is greater than default limit value 1Gi'),
        ("spec.limits[0].maxLimitRequestRatio[memory]", 'Invalid value: "500m": ratio 500m is less than 1'),
        ("spec.limits[1].type", 'Duplicate value: "Container"'),
        ("spec.limits[2].default", "Forbidden: may not be specified when `type` is 'Pod'"),
        ("spec.limits[3].limits",
         "Required value: either minimum or maximum storage value is required, but neither was provided"),
        ("spec.limits[4].type", 'Duplicate value: "Container"'),
        ("spec.limits[4].defaultRequest[example.com/gpu]",
         'Invalid value: "1": default value 2 must equal to defaultRequest value 1 in example.com/gpu'),
    ]
    assert validate_limit_range(limit_range(CONTAINER_DEFAULTS, {"type": "Pod", "max": {"cpu": "4"}})) == []


def _as_written(*limits: dict[str, Any]) -> dict[str, Any]:
    """Not defaulted: the relations between exactly these values."""
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "x", "namespace": "default"},
            "spec": {"limits": list(limits)}}


def test_a_max_or_min_alone_defaults_the_pod_as_kube_does() -> None:
    """SetDefaults_LimitRangeItem: max → default → defaultRequest, then min → defaultRequest."""
    stored = limit_range({"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "64Mi"}})
    assert stored["spec"]["limits"][0] == {"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "64Mi"},
                                           "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1", "memory": "64Mi"}}
    admitted = limitranger.admit_pod(pod({}), [stored])
    assert resources(admitted) == {"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"cpu": "1"}}


def test_the_last_range_that_sets_something_writes_the_annotation() -> None:
    first = limit_range({"type": "Container", "default": {"cpu": "1"}}, name="a")
    second = limit_range({"type": "Container", "default": {"memory": "1Gi"}}, name="b")
    admitted = limitranger.admit_pod(pod({"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}), [first, second])
    assert (admitted.metadata.annotations or {})[limitranger.ANNOTATION] == (
        "LimitRanger plugin set: memory limit for container c0")
    assert resources(admitted)["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_defaults_keep_the_containers_other_resource_fields() -> None:
    claimed = pod({"resources": {"claims": [{"name": "gpu"}]}})
    admitted = limitranger.admit_pod(claimed, [limit_range({"type": "Container", "default": {"cpu": "1"}})])
    assert resources(admitted)["claims"] == [{"name": "gpu"}]


def test_a_stored_range_that_cannot_be_read_is_skipped_not_a_500() -> None:
    broken = {"metadata": {"name": "old", "namespace": "default"},
              "spec": {"limits": [{"type": "Pod", "max": {"cpu": "abc"}}, "junk", {"type": "Container", "min": 7}]}}
    p = pod({})
    assert limitranger.admit_pod(p, [broken]) is p
    assert limitranger.admit_pod(p, [{"spec": "junk"}]) is p


def test_quantities_compare_in_rounded_up_thousandths() -> None:
    """requestLimitEnforcedValues: 0.0001 cpu is 1m there, so it meets a 1m minimum."""
    tiny = pod({"resources": {"requests": {"cpu": "0.0001"}}})
    assert limitranger.admit_pod(tiny, [limit_range({"type": "Container", "min": {"cpu": "1m"}})])


def test_limit_range_types_resources_and_quantities_are_checked() -> None:
    causes = [(c.field, c.message) for c in validate_limit_range({"spec": {"limits": [
        {"type": "Bogus", "max": {"cpu": "1"}},
        {"type": "Container", "max": {"storage": "1Gi", "cpu": "abc"}},
    ]}})]
    assert causes == [
        ("spec.limits[0].type", 'Invalid value: "Bogus": must be a standard limit type or fully qualified'),
        ("spec.limits[1].max[storage]", 'Invalid value: "storage": must be a standard resource for containers'),
        ("spec.limits[1].max[cpu]", 'Invalid value: "abc": quantities must match the regular expression '
                                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ]


def test_messages_print_quantities_as_kube_serialises_them() -> None:
    """Quantity.String(): the range's and the container's quantities in their canonical form, whatever
    spelling they were written in (1024Mi is 1Gi, 1000m is 1, 0.05 is 50m)."""
    bounds = {**limit_range(), "spec": {"limits": [
        {"type": "Container", "min": {"cpu": "0.1"}, "max": {"memory": "1024Mi", "cpu": "1000m"}}]}}
    over = pod({"resources": {"requests": {"cpu": "0.05", "memory": "1Mi"}, "limits": {"cpu": "1500m", "memory": "2048Mi"}}})
    assert refusal(over, bounds) == (
        'pods "p" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, '
        "maximum memory usage per Container is 1Gi, but limit is 2Gi, "
        "maximum cpu usage per Container is 1, but limit is 1500m]")
