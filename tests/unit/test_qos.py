"""A pod's QoS class (kubelite.api.qos): Kubernetes' ComputePodQOS cases, and its invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import Container, Pod, PodSpec, PodStatus, ResourceRequirements
from kubelite.api.meta import ObjectMeta
from kubelite.api.qos import BEST_EFFORT, BURSTABLE, GUARANTEED, compute_qos_class, containers_qos_class, pod_qos_class


def container(name: str = "c", requests: dict[str, str] | None = None,
              limits: dict[str, str] | None = None) -> Container:
    resources = ResourceRequirements(requests=requests, limits=limits) if requests or limits else None
    return Container(name=name, image="demo:1", resources=resources)


def pod(*containers: Container, init: list[Container] | None = None) -> Pod:
    return Pod(metadata=ObjectMeta(name="p", namespace="default"),
               spec=PodSpec(containers=list(containers), init_containers=init))


BOTH = {"cpu": "100m", "memory": "64Mi"}


@pytest.mark.parametrize(("p", "expected"), [
    (pod(container()), BEST_EFFORT),
    (pod(container(requests={"cpu": "0", "memory": "0"})), BEST_EFFORT),  # only positive quantities count
    (pod(container(requests={"nvidia.com/gpu": "1"}, limits={"nvidia.com/gpu": "1"})), BEST_EFFORT),
    (pod(container(requests={"cpu": "100m"})), BURSTABLE),
    (pod(container(limits={"cpu": "100m"})), BURSTABLE),  # memory not limited
    (pod(container(requests=BOTH, limits=BOTH)), GUARANTEED),
    (pod(container(limits=BOTH)), GUARANTEED),  # a missing request is the limit
    (pod(container(requests={"cpu": "0.1", "memory": "67108864"}, limits=BOTH)), GUARANTEED),  # equal values
    (pod(container(requests={"cpu": "50m", "memory": "64Mi"}, limits=BOTH)), BURSTABLE),
    (pod(container(requests={"cpu": "0"}, limits=BOTH)), BURSTABLE),  # an explicit zero request is no default
    (pod(container("a", limits=BOTH), container("b")), BURSTABLE),
    (pod(container("a", limits=BOTH), container("b", limits=BOTH)), GUARANTEED),
    (pod(container(limits=BOTH), init=[container("init")]), BURSTABLE),  # init containers count
    (pod(container(limits=BOTH), init=[container("init", limits=BOTH)]), GUARANTEED),
    (pod(container(limits={**BOTH, "nvidia.com/gpu": "1"})), GUARANTEED),  # other resources do not count
])
def test_kubernetes_cases(p: Pod, expected: str) -> None:
    assert compute_qos_class(p) == expected


def test_the_stored_class_wins_over_the_spec() -> None:
    """The kubelet's GetPodQOS: the class is set on create and never recomputed."""
    p = pod(container(limits=BOTH))
    assert pod_qos_class(p) == GUARANTEED
    p.status = PodStatus(phase="Running", qos_class=BURSTABLE)
    assert pod_qos_class(p) == BURSTABLE and compute_qos_class(p) == GUARANTEED


quantities = st.sampled_from(["0", "100m", "0.1", "1", "250m", "64Mi", "67108864", "1Gi"])
resource_lists = st.one_of(st.none(), st.dictionaries(st.sampled_from(["cpu", "memory", "example.com/dongle"]),
                                                      quantities, max_size=3))
containers = st.builds(lambda r, lim: container(requests=r, limits=lim), resource_lists, resource_lists)


def _positive(value: str) -> bool:
    return value not in ("0",)


@given(st.lists(containers, min_size=1, max_size=4), st.randoms())
def test_invariants(cs: list[Container], rnd) -> None:  # noqa: ANN001
    cls = containers_qos_class(cs)
    shuffled = list(cs)
    rnd.shuffle(shuffled)
    assert containers_qos_class(shuffled) == cls  # the order of containers does not matter
    counted = [v for c in cs if c.resources
               for values in (c.resources.requests or {}, c.resources.limits or {})
               for name, v in values.items() if name in ("cpu", "memory") and _positive(v)]
    assert (cls == BEST_EFFORT) == (not counted)
    if cls == GUARANTEED:  # every container limits both, positively
        assert all(c.resources and c.resources.limits and all(_positive(c.resources.limits.get(n, "0"))
                                                                for n in ("cpu", "memory")) for c in cs)
    extended = [c.model_copy(update={"resources": ResourceRequirements(
        requests={**((c.resources.requests if c.resources else None) or {}), "example.com/other": "1"},
        limits=c.resources.limits if c.resources else None)}) for c in cs]
    assert containers_qos_class(extended) == cls  # resources other than cpu and memory do not count
