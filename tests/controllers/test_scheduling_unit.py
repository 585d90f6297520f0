"""Pure scheduling decisions: predicates with reasons, scoring, deterministic ties."""

from __future__ import annotations

from kubelite.api.core import (
    Container, ContainerPort, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements,
    Taint, Toleration,
)
from kubelite.api.meta import ObjectMeta, OwnerReference

from controllers.podutil import non_zero_requests, pod_requests
from controllers.scheduling import NodeInfo, schedule, unschedulable_message


def node(name: str, *, cpu: str = "2", memory: str = "4Gi", pods: int = 110, ready: bool = True,
         taints: list[Taint] | None = None, labels: dict[str, str] | None = None,
         unschedulable: bool = False) -> Node:
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    return Node(metadata=ObjectMeta(name=name, labels=labels),
                spec=NodeSpec(taints=taints, unschedulable=unschedulable or None),
                status=NodeStatus(allocatable=alloc, conditions=[
                    NodeCondition(type="Ready", status="True" if ready else "False")]))


def pod(name: str = "p", *, cpu: str | None = None, memory: str | None = None, host_port: int | None = None,
        tolerations: list[Toleration] | None = None, selector: dict[str, str] | None = None,
        owner: str | None = None) -> Pod:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    ports = [ContainerPort(container_port=80, host_port=host_port)] if host_port else None
    refs = [OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="rs", uid=owner, controller=True)] \
        if owner else None
    return Pod(metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}", owner_references=refs),
               spec=PodSpec(containers=[Container(name="c", ports=ports,
                                                  resources=ResourceRequirements(requests=requests or None))],
                            tolerations=tolerations, node_selector=selector))


UNREACHABLE = Taint(key="node.kubernetes.io/unreachable", effect="NoExecute")


def test_message_counts_reasons_like_kubernetes() -> None:
    infos = [NodeInfo(node("a", cpu="1")), NodeInfo(node("b", cpu="1")), NodeInfo(node("c", taints=[UNREACHABLE]))]
    decision = schedule(pod(cpu="2"), infos)
    assert decision.node is None
    assert decision.message == ("0/3 nodes are available: 2 Insufficient cpu, "
                                "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.")


def test_each_predicate_reason() -> None:
    cases = [
        (NodeInfo(node("a", unschedulable=True)), pod(), "node(s) were unschedulable"),
        (NodeInfo(node("a")), pod(selector={"disk": "ssd"}), "node(s) didn't match Pod's node affinity/selector"),
        (NodeInfo(node("a", ready=False)), pod(), "node(s) were not ready"),
        (NodeInfo(node("a"), lease_present=False), pod(), "node(s) had no heartbeat lease"),
        (NodeInfo(node("a", memory="1Gi")), pod(memory="2Gi"), "Insufficient memory"),
        (NodeInfo(node("a", pods=0)), pod(), "Too many pods"),
    ]
    for info, candidate, reason in cases:
        decision = schedule(candidate, [info])
        assert decision.message == f"0/1 nodes are available: 1 {reason}.", reason


def test_host_ports_and_bound_pods_are_counted() -> None:
    busy = NodeInfo(node("a", cpu="1"))
    busy.add_pod(pod("x", cpu="800m", host_port=8080))
    assert schedule(pod(host_port=8080), [busy]).message.endswith("didn't have free ports for the requested pod ports.")
    assert schedule(pod(cpu="300m"), [busy]).message == "0/1 nodes are available: 1 Insufficient cpu."
    assert schedule(pod(cpu="200m", host_port=9090), [busy]).node == "a"


def test_tolerations_let_pods_onto_tainted_nodes() -> None:
    tainted = NodeInfo(node("t", taints=[Taint(key="k", value="v", effect="NoSchedule")]))
    assert schedule(pod(), [tainted]).node is None
    assert schedule(pod(tolerations=[Toleration(key="k", value="v")]), [tainted]).node == "t"
    assert schedule(pod(tolerations=[Toleration(key="k", operator="Exists")]), [tainted]).node == "t"
    assert schedule(pod(tolerations=[Toleration(operator="Exists")]), [tainted]).node == "t"
    assert schedule(pod(tolerations=[Toleration(key="k", value="other")]), [tainted]).node is None


def test_prefer_no_schedule_only_scores() -> None:
    soft = NodeInfo(node("a-soft", taints=[Taint(key="k", effect="PreferNoSchedule")]))
    plain = NodeInfo(node("b-plain"))
    assert schedule(pod(), [soft, plain]).node == "b-plain"
    assert schedule(pod(), [soft]).node == "a-soft"


def test_least_allocated_prefers_the_emptier_node() -> None:
    full = NodeInfo(node("a"))
    full.add_pod(pod("x", cpu="1500m"))
    empty = NodeInfo(node("b"))
    assert schedule(pod(cpu="100m"), [full, empty]).node == "b"


def test_spreads_one_owner_and_ties_are_deterministic() -> None:
    infos = [NodeInfo(node(n)) for n in ("a", "b", "c")]
    placed = []
    for i in range(6):
        candidate = pod(f"p{i}", owner="rs-1")
        first = schedule(candidate, infos).node
        assert first == schedule(candidate, infos).node  # same input, same answer
        placed.append(first)
        next(info for info in infos if info.name == first).add_pod(candidate)
    assert sorted(placed) == ["a", "a", "b", "b", "c", "c"]


def test_no_nodes() -> None:
    assert schedule(pod(), []).message == "0/0 nodes are available: no nodes registered."
    from collections import Counter
    assert unschedulable_message(2, Counter({"b": 1, "a": 1})) == "0/2 nodes are available: 1 a, 1 b."


def test_node_facts_are_taken_once_and_kept_across_pod_rebuilds() -> None:
    info = NodeInfo(node("a", cpu="1", taints=[Taint(key="k", effect="PreferNoSchedule")]))
    assert info.plain and info.ready and not info.hard_taints and len(info.soft_taints) == 1
    info.add_pod(pod("x", cpu="800m", host_port=8080, owner="rs-1"))
    fresh = info.without_pods()
    assert (fresh.pod_count, fresh.cpu_requested, fresh.used_ports, dict(fresh.owner_counts)) == (0, 0, set(), {})
    assert (info.pod_count, info.cpu_requested) == (1, 800)  # the original is untouched
    assert (fresh.allocatable_cpu, fresh.soft_taints, fresh.plain) == (1000, info.soft_taints, True)
    assert not NodeInfo(node("b", ready=False)).plain and not NodeInfo(node("c"), lease_present=False).plain
    assert not NodeInfo(node("d", unschedulable=True)).plain
    assert not NodeInfo(node("e", taints=[UNREACHABLE])).plain


def _with_init(app_cpu: str, init: list[tuple[str, str | None]]) -> Pod:
    """A pod whose app container requests ``app_cpu``, with init containers (cpu request, restartPolicy)."""
    base = pod(cpu=app_cpu)
    base.spec.init_containers = [
        Container(name=f"init-{i}", restart_policy=policy, resources=ResourceRequirements(requests={"cpu": cpu}))
        for i, (cpu, policy) in enumerate(init)]
    return base


def test_init_containers_and_sidecars_count_as_kube_scheduler_counts_them() -> None:
    """PodRequests: the app and the sidecars add up; each plain init container needs its own request beside
    the sidecars started before it; the pod needs the larger of the two."""
    assert pod_requests(_with_init("500m", [("3", None)])).cpu_millis == 3000  # init peak over the app
    assert pod_requests(_with_init("500m", [("200m", "Always"), ("1", None)])).cpu_millis == 1200  # sidecar + init
    assert pod_requests(_with_init("500m", [("1", None), ("200m", "Always")])).cpu_millis == 1000  # sidecar after it
    assert pod_requests(_with_init("2", [("200m", "Always"), ("1", None)])).cpu_millis == 2200  # app + sidecar
    # a 3-cpu init container does not fit a 2-cpu node, whatever the app asks
    decision = schedule(_with_init("100m", [("3", None)]), [NodeInfo(node("a", cpu="2"))])
    assert decision.node is None and decision.message == "0/1 nodes are available: 1 Insufficient cpu."
    assert schedule(_with_init("100m", [("2", None)]), [NodeInfo(node("a", cpu="2"))]).node == "a"


def test_scoring_counts_an_absent_request_as_the_default_and_an_explicit_zero_as_zero() -> None:
    absent = non_zero_requests(pod())
    assert (absent.cpu_millis, absent.memory_bytes) == (100, 200 * 1024 * 1024)
    explicit = non_zero_requests(pod(cpu="0", memory="0"))
    assert (explicit.cpu_millis, explicit.memory_bytes) == (0, 0)  # applyNonMissing: only what is absent
