"""Pure rules of node health: disk thresholds, DiskPressure, the kubelet's eviction ranking and
message, the node's conditions and taint, pods while the runtime is down, start-failure back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import (
    Container,
    ContainerStatus,
    NodeCondition,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Taint,
    Toleration,
)

from kubelite.node.evictionflags import KUBELET_EVICTION_HARD, LOCAL_EVICTION_HARD, Threshold, parse_eviction_hard

from agent.eviction import (
    ContainerUsage,
    PodUsage,
    ThresholdMet,
    admission_refusal,
    evicted_status,
    eviction_message,
    rank_for_disk_eviction,
    thresholds_met,
    under_pressure,
)
from agent.nodehealth import HealthFacts, node_conditions
from agent.runtime.base import FsStats
from agent.runtimehealth import runtime_down_status
from agent.startfailures import StartFailures
from agent.status import Waiting

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GI = 1 << 30


# -- thresholds ---------------------------------------------------------------

def test_kubelet_default_thresholds_parse() -> None:
    assert parse_eviction_hard("nodefs.available<10%,imagefs.available<15%") == (
        Threshold("nodefs.available", percentage=0.10), Threshold("imagefs.available", percentage=0.15))
    assert parse_eviction_hard("nodefs.available<2Gi") == (Threshold("nodefs.available", quantity=2 * GI),)
    assert parse_eviction_hard("") == ()


@pytest.mark.parametrize("raw", ["memory.available<100Mi", "nodefs.available>10%", "nodefs.available<0%",
                                 "nodefs.available<101%", "nodefs.available<lots", "nodefs.available"])
def test_bad_thresholds_are_refused_with_the_statement(raw: str) -> None:
    with pytest.raises(ValueError, match="eviction"):
        parse_eviction_hard(raw)


def test_threshold_is_met_below_its_share_of_capacity() -> None:
    thresholds = parse_eviction_hard("nodefs.available<10%,imagefs.available<15%")
    fs = {"nodefs.available": FsStats(100 * GI, 12 * GI), "imagefs.available": FsStats(100 * GI, 12 * GI)}
    met = thresholds_met(thresholds, fs)
    assert [m.threshold.signal for m in met] == ["imagefs.available"]  # 12 % < 15 %, not < 10 %
    assert met[0].quantity == 15 * GI and met[0].available == 12 * GI
    assert thresholds_met(thresholds, {"nodefs.available": FsStats(100 * GI, 50 * GI)}) == []
    assert thresholds_met(thresholds, {}) == []  # nothing observed: no pressure


def test_a_local_clusters_floor_is_absolute_so_a_big_shared_disk_is_not_under_pressure() -> None:
    """What CI hit: a 252 GiB disk at 92 % holds 20 GiB free, which is pressure by the kubelet's
    percentages; kl up's floor (and the suite's) only reacts when the disk is really nearly full."""
    big_and_busy = {s: FsStats(252 * GI, 20 * GI) for s in ("nodefs.available", "imagefs.available")}
    assert len(thresholds_met(parse_eviction_hard(KUBELET_EVICTION_HARD), big_and_busy)) == 2
    local = parse_eviction_hard(LOCAL_EVICTION_HARD)
    assert all(t.percentage is None for t in local)
    assert thresholds_met(local, big_and_busy) == []
    nearly_full = {s: FsStats(252 * GI, GI // 2) for s in ("nodefs.available", "imagefs.available")}
    assert len(thresholds_met(local, nearly_full)) == 2


def test_pressure_lasts_for_the_transition_period() -> None:
    assert not under_pressure(None, 1000, 300)
    assert under_pressure(1000, 1000, 300)
    assert under_pressure(1000, 1299, 300)
    assert not under_pressure(1000, 1300, 300)


# -- ranking ------------------------------------------------------------------

def pod(key: str, usage: int, request: int = 0, priority: int = 0) -> PodUsage:
    return PodUsage(key, priority, (ContainerUsage("c", usage, request),))


def test_rank_over_requests_first_then_priority_then_usage_above_requests() -> None:
    within = pod("within-requests", usage=900, request=1000)  # big but within its request
    small_best_effort = pod("small", usage=10)
    big_best_effort = pod("big", usage=500)
    important = pod("important", usage=5000, priority=1000)
    unmeasured = PodUsage("unmeasured", measured=False)
    ranked = rank_for_disk_eviction([within, important, small_best_effort, big_best_effort, unmeasured])
    assert [p.key for p in ranked] == ["unmeasured", "big", "small", "important", "within-requests"]


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9), st.sampled_from([0, 10, 1000])),
                min_size=1, max_size=12))
def test_ranking_properties(raw: list[tuple[int, int, int]]) -> None:
    pods = [pod(f"p{i}", u, r, prio) for i, (u, r, prio) in enumerate(raw)]
    ranked = rank_for_disk_eviction(pods)
    assert sorted(p.key for p in ranked) == sorted(p.key for p in pods)
    first = ranked[0]
    # Nobody within its requests goes before a pod over its requests.
    if any(p.exceeds_requests for p in pods):
        assert first.exceeds_requests
        over = [p for p in pods if p.exceeds_requests]
        assert first.priority == min(p.priority for p in over)


def test_eviction_message_is_the_kubelets() -> None:
    met = ThresholdMet(Threshold("nodefs.available", percentage=0.1), quantity=10 * GI, available=4 * GI)
    victim = PodUsage("default/chatty", 0, (ContainerUsage("spam", 300 << 20), ContainerUsage("quiet", 10, 1 << 20)))
    assert eviction_message(met, victim) == (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 4Gi. "
        "Container spam was using 300Mi, request is 0, has larger consumption of ephemeral-storage. ")


def test_evicted_status_is_failed_evicted_with_disruption_target() -> None:
    before = PodStatus(phase="Failed", conditions=[PodCondition(type="Ready", status="False")])
    status = evicted_status(before, "The node was low on resource: ephemeral-storage. ", T0)
    assert (status.phase, status.reason) == ("Failed", "Evicted")
    assert status.message.startswith("The node was low on resource")
    target = status.condition("DisruptionTarget")
    assert target.status == "True" and target.reason == "TerminationByKubelet"


def test_new_pods_are_refused_under_disk_pressure_unless_they_tolerate_it() -> None:
    plain = Pod(spec=PodSpec(containers=[Container(name="c", image="i")]))
    assert admission_refusal(plain) == "The node had condition: [DiskPressure]. "
    tolerant = Pod(spec=PodSpec(containers=[Container(name="c", image="i")], tolerations=[
        Toleration(key="node.kubernetes.io/disk-pressure", operator="Exists", effect="NoSchedule")]))
    assert admission_refusal(tolerant) is None
    assert admission_refusal(Pod(spec=PodSpec(tolerations=[Toleration(operator="Exists")]))) is None


# -- node conditions and taint ------------------------------------------------

def test_node_conditions_follow_the_health_facts() -> None:
    healthy = node_conditions([], HealthFacts(), T0)
    assert [(c.type, c.status, c.reason) for c in healthy] == [
        ("Ready", "True", "KubeletReady"), ("DiskPressure", "False", "KubeletHasNoDiskPressure")]
    later = T0 + timedelta(seconds=30)
    down = node_conditions(healthy, HealthFacts(runtime_error="dial unix: connection refused", disk_pressure=True),
                           later)
    ready = next(c for c in down if c.type == "Ready")
    assert ready.status == "False" and ready.reason == "ContainerRuntimeUnhealthy"
    assert ready.message == "container runtime is down: dial unix: connection refused"
    assert ready.last_transition_time == later
    disk = next(c for c in down if c.type == "DiskPressure")
    assert disk.status == "True" and disk.reason == "KubeletHasDiskPressure"
    # A heartbeat without change keeps the transition time, other condition types are kept.
    other = NodeCondition(type="NetworkUnavailable", status="False")
    again = node_conditions([*down, other], HealthFacts(runtime_error="x", disk_pressure=True), later + timedelta(1))
    assert next(c for c in again if c.type == "Ready").last_transition_time == later
    assert other in again


# -- pods while the runtime is down ---------------------------------------------

def test_runtime_down_makes_pods_not_ready_and_keeps_container_states() -> None:
    running = PodStatus(
        phase="Running",
        conditions=[PodCondition(type="Ready", status="True", last_transition_time=T0),
                    PodCondition(type="ContainersReady", status="True", last_transition_time=T0),
                    PodCondition(type="PodScheduled", status="True", last_transition_time=T0)],
        container_statuses=[ContainerStatus(name="app", ready=True, restart_count=0, image="img")],
    )
    later = T0 + timedelta(minutes=1)
    down = runtime_down_status(running, later)
    assert down is not None and down.phase == "Running"
    assert down.condition("Ready").status == "False" and down.condition("Ready").last_transition_time == later
    assert down.condition("ContainersReady").status == "False"
    assert down.condition("PodScheduled").status == "True"
    assert not down.container_statuses[0].ready
    assert runtime_down_status(down, later) is None  # already so: no write
    assert runtime_down_status(None, later) is None


# -- start failures -------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_start_failures_back_off_and_pull_errors_show_image_pull_backoff() -> None:
    clock = Clock()
    failures = StartFailures(initial=10, cap=40, clock=clock)
    failures.record("u", "POD", Waiting("ContainerCreating", "Failed to create pod sandbox: bind: address in use"))
    failures.record("u", "app", Waiting("ErrImagePull", "no registry"))
    assert failures.remaining("u", "POD") == 10
    assert failures.waiting("u", "app", "img:1").reason == "ImagePullBackOff"
    clock.now += 10
    assert failures.remaining("u", "POD") == 0
    assert failures.waiting("u", "app", "img:1").reason == "ErrImagePull"  # due again: the error itself
    failures.record("u", "POD", Waiting("ContainerCreating", "again"))
    assert failures.remaining("u", "POD") == 20  # doubled
    failures.record("u", "side", Waiting("RunContainerError", "exec: no such file"))
    failures.clear_runtime_errors("u")  # a new sandbox: runtime errors get a fresh try, pull errors do not
    assert sorted(failures.names("u")) == ["app"]
    failures.forget_uid("u")
    assert failures.names("u") == []


def test_a_pods_disk_request_counts_its_sidecars_and_its_init_peak() -> None:
    """GetResourceRequestQuantity: app containers and sidecars add up; a one-off init container's request
    counts when it is larger; the ranking compares usage with the pod's request, not its containers' sum."""
    from kubelite.api import parse_object

    from agent.diskpressure import pod_ephemeral_request

    def container(name: str, request: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "image": "x", "resources": {"requests": {"ephemeral-storage": request}}, **extra}

    def pod(*init: dict[str, Any]) -> Any:
        return parse_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                             "spec": {"initContainers": list(init), "containers": [container("app", "100Mi")]}})

    assert pod_ephemeral_request(pod()) == 100 << 20
    assert pod_ephemeral_request(pod(container("log-shipper", "50Mi", restartPolicy="Always"))) == 150 << 20
    assert pod_ephemeral_request(pod(container("unpack", "1Gi"))) == 1 << 30
    # 120Mi used by its app container: over the container's request, within the pod's (a sidecar's share)
    usage = PodUsage("default/p", 0, (ContainerUsage("app", 120 << 20, 100 << 20),), pod_request_bytes=150 << 20)
    assert not usage.exceeds_requests
