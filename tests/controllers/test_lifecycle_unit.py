"""Pure lifecycle decisions, no I/O: taint-manager eviction times on a fake clock, MarkPodsNotReady,
DefaultTolerationSeconds admission, graceful deletion timestamps, and the namespace controller's plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.core import (
    Namespace, NamespaceSpec, NamespaceStatus, Node, NodeCondition, NodeSpec, NodeStatus, PodCondition, PodStatus,
    Taint, Toleration,
)
from kubelite.api import errors
from kubelite.api.meta import ObjectMeta
from kubelite.registry.strategy import (
    Admission, forbidden_in_terminating_namespace, graceful_deletion, is_namespace_terminating,
    mark_namespace_for_deletion,
    prepare_for_create, prepare_for_update, should_delete_during_update, with_default_tolerations,
)

from controllers.namespace_plan import Content, plan_namespace
from controllers.taints import (
    CONDITION_TAINT_KEYS, CONDITION_TAINTS, DISK_PRESSURE, MEMORY_PRESSURE, NETWORK_UNAVAILABLE, NOT_READY,
    PID_PRESSURE, UNREACHABLE, UNSCHEDULABLE, NodeVerdict, condition_taint_keys, eviction_time, marked_not_ready,
    reconciled_taints, should_mark_not_ready, with_condition_taints, with_disruption_target,
)
from tests.controllers.objects import bare_pod

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pod(*tolerations: Toleration, bound_at: datetime | None = None, ready: str | None = None,
        ready_since: datetime | None = None) -> Any:
    p = bare_pod("p", tolerations=list(tolerations) or None)
    p.spec.node_name = "n1"
    conditions = []
    if bound_at is not None:
        conditions.append(PodCondition(type="PodScheduled", status="True", last_transition_time=bound_at))
    if ready is not None:
        conditions.append(PodCondition(type="Ready", status=ready, last_transition_time=ready_since))
    if conditions:
        p.status = PodStatus(phase="Running", conditions=conditions)
    return p


def tol(key: str | None, seconds: int | None = None, *, effect: str | None = "NoExecute") -> Toleration:
    return Toleration(key=key, operator="Exists", effect=effect, toleration_seconds=seconds)


UNREACHABLE_T0 = Taint(key=UNREACHABLE, effect="NoExecute", time_added=T0)
NOT_READY_T0 = Taint(key=NOT_READY, effect="NoExecute", time_added=T0)


# -- TaintNodesByCondition ---------------------------------------------------------------

def node_with(conditions: dict[str, str], *, unschedulable: bool = False, taints: list[Taint] | None = None) -> Node:
    return Node(metadata=ObjectMeta(name="n1"), spec=NodeSpec(unschedulable=unschedulable or None, taints=taints),
                status=NodeStatus(conditions=[NodeCondition(type=t, status=v) for t, v in conditions.items()]))


def test_condition_taints_follow_kubes_condition_table() -> None:
    assert condition_taint_keys(node_with({"Ready": "True", "DiskPressure": "False"})) == set()
    assert condition_taint_keys(node_with({"Ready": "False"})) == {NOT_READY}
    assert condition_taint_keys(node_with({"Ready": "Unknown"})) == {UNREACHABLE}
    assert condition_taint_keys(node_with({
        "Ready": "True", "MemoryPressure": "True", "DiskPressure": "True", "PIDPressure": "True",
        "NetworkUnavailable": "True"}, unschedulable=True)) == {
        MEMORY_PRESSURE, DISK_PRESSURE, PID_PRESSURE, NETWORK_UNAVAILABLE, UNSCHEDULABLE}
    assert condition_taint_keys(node_with({"DiskPressure": "Unknown", "Custom": "True"})) == set()


def test_disk_pressure_taint_is_added_once_and_removed_leaving_other_taints() -> None:
    mine = Taint(key="gpu", value="yes", effect="NoSchedule")
    kept_no_execute = Taint(key=DISK_PRESSURE, effect="NoExecute")  # someone else's effect: not the pass's
    pressed = node_with({"Ready": "True", "DiskPressure": "True"}, taints=[mine, kept_no_execute])
    added = with_condition_taints(pressed.taints, pressed, T0)
    assert added == [mine, kept_no_execute, Taint(key=DISK_PRESSURE, effect="NoSchedule", time_added=T0)]
    pressed.spec.taints = added
    assert with_condition_taints(added, pressed, at(5)) is None  # present: unchanged, timeAdded kept
    relieved = node_with({"Ready": "True", "DiskPressure": "False"}, taints=added)
    assert with_condition_taints(added, relieved, at(9)) == [mine, kept_no_execute]
    assert with_condition_taints([mine], relieved, at(9)) is None


def test_both_passes_together_one_result() -> None:
    lost = node_with({"Ready": "Unknown"}, taints=[Taint(key=NOT_READY, effect="NoSchedule", time_added=T0)])
    both = reconciled_taints(lost, NodeVerdict(None, UNREACHABLE), at(1))
    assert [(t.key, t.effect) for t in both or []] == [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    lost.spec.taints = both
    assert reconciled_taints(lost, NodeVerdict(None, UNREACHABLE), at(2)) is None
    # a missing lease within its grace (no verdict) leaves the NoExecute taint, still follows conditions
    back = node_with({"Ready": "True"}, taints=both)
    assert [(t.key, t.effect) for t in reconciled_taints(back, None, at(3)) or []] == [(UNREACHABLE, "NoExecute")]
    assert reconciled_taints(back, NodeVerdict(None, None), at(3)) == []


_STATUSES = st.sampled_from(["True", "False", "Unknown"])
_USER_TAINT = st.builds(Taint, key=st.sampled_from(["gpu", DISK_PRESSURE, NOT_READY, "zone"]),
                        effect=st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule"]))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*CONDITION_TAINTS, "Custom"]), _STATUSES), st.booleans(),
       st.lists(_USER_TAINT, max_size=4))
def test_condition_pass_invariants(conditions: dict[str, str], cordoned: bool, taints: list[Taint]) -> None:
    node = node_with(conditions, unschedulable=cordoned, taints=taints)
    result = with_condition_taints(taints, node, T0)
    after = taints if result is None else result
    wanted = condition_taint_keys(node)
    # exactly the wanted condition taints carry NoSchedule; every other taint is untouched, in order
    assert {t.key for t in after if t.effect == "NoSchedule" and t.key in CONDITION_TAINT_KEYS} == wanted
    assert [t for t in after if not (t.effect == "NoSchedule" and t.key in CONDITION_TAINT_KEYS)] == [
        t for t in taints if not (t.effect == "NoSchedule" and t.key in CONDITION_TAINT_KEYS)]
    node.spec.taints = after
    assert with_condition_taints(after, node, at(1)) is None  # idempotent


# -- the taint manager ------------------------------------------------------------------

def test_eviction_follows_the_pods_own_tolerations() -> None:
    now = at(1)
    assert eviction_time(pod(), [UNREACHABLE_T0], now=now) == T0  # nothing tolerates it: at once
    assert eviction_time(pod(tol(UNREACHABLE, 5)), [UNREACHABLE_T0], now=now) == at(5)
    assert eviction_time(pod(tol(UNREACHABLE)), [UNREACHABLE_T0], now=now) is None  # no seconds: forever
    assert eviction_time(pod(tol(UNREACHABLE, -3)), [UNREACHABLE_T0], now=now) == T0  # <= 0: at once
    assert eviction_time(pod(tol(None)), [UNREACHABLE_T0, NOT_READY_T0], now=now) is None  # empty key: all
    # the smallest seconds over all NoExecute taints
    both = pod(tol(UNREACHABLE, 300), tol(NOT_READY, 20))
    assert eviction_time(both, [UNREACHABLE_T0, NOT_READY_T0], now=now) == at(20)
    # one taint tolerated, the other not: at once
    assert eviction_time(pod(tol(UNREACHABLE)), [UNREACHABLE_T0, NOT_READY_T0], now=now) == T0
    # NoSchedule taints and NoSchedule-only tolerations do not count
    no_schedule = Taint(key="x", effect="NoSchedule", time_added=T0)
    assert eviction_time(pod(), [no_schedule], now=now) is None
    assert eviction_time(pod(tol(UNREACHABLE, effect="NoSchedule")), [UNREACHABLE_T0], now=now) == T0


def test_only_the_first_matching_toleration_of_a_taint_counts() -> None:
    """GetMatchingTolerations takes the first toleration that tolerates each taint."""
    first_forever = pod(tol(UNREACHABLE), tol(UNREACHABLE, 5))
    assert eviction_time(first_forever, [UNREACHABLE_T0], now=at(1)) is None
    first_five = pod(tol(UNREACHABLE, 5), tol(UNREACHABLE))
    assert eviction_time(first_five, [UNREACHABLE_T0], now=at(1)) == at(5)


def test_the_clock_starts_when_the_pod_landed_on_the_tainted_node() -> None:
    late = pod(tol(UNREACHABLE, 30), bound_at=at(100))
    assert eviction_time(late, [UNREACHABLE_T0], now=at(101)) == at(130)
    early = pod(tol(UNREACHABLE, 30), bound_at=at(-100))
    assert eviction_time(early, [UNREACHABLE_T0], now=at(1)) == at(30)
    undated = Taint(key=UNREACHABLE, effect="NoExecute")
    assert eviction_time(pod(tol(UNREACHABLE, 30)), [undated], now=at(7)) == at(37)


@settings(deadline=None)  # pure and fast; a loaded CI machine must not turn slowness into failure
@given(seconds=st.lists(st.one_of(st.none(), st.integers(-5, 1000)), min_size=1, max_size=4),
       tainted_at=st.integers(0, 1000), now=st.integers(0, 2000))
def test_eviction_time_invariants(seconds: list[int | None], tainted_at: int, now: int) -> None:
    """One toleration per taint key: evicted at taint time + min(seconds) clipped at 0, never if all are forever."""
    keys = [f"k{i}" for i in range(len(seconds))]
    taints = [Taint(key=k, effect="NoExecute", time_added=at(tainted_at)) for k in keys]
    p = pod(*[tol(k, s) for k, s in zip(keys, seconds, strict=True)])
    result = eviction_time(p, taints, now=at(now))
    finite = [s for s in seconds if s is not None]
    if not finite:
        assert result is None
    else:
        assert result == at(tainted_at + max(0, min(finite)))
        assert result >= at(tainted_at)


# -- MarkPodsNotReady ----------------------------------------------------------------------

def node(ready: str, since: datetime = T0) -> Node:
    return Node(metadata=ObjectMeta(name="n1"), status=NodeStatus(conditions=[
        NodeCondition(type="Ready", status=ready, last_transition_time=since)]))


def test_pods_of_a_not_ready_node_are_marked_not_ready() -> None:
    ready_pod = pod(ready="True", ready_since=at(-60))
    assert should_mark_not_ready(ready_pod, node("Unknown"))
    assert should_mark_not_ready(ready_pod, node("False"))
    assert not should_mark_not_ready(ready_pod, node("True"))
    assert not should_mark_not_ready(pod(ready="False"), node("Unknown"))
    assert not should_mark_not_ready(pod(), node("Unknown"))  # no Ready condition: nothing to flip
    # a live agent (node says False itself) that reported the pod Ready afterwards is not overruled
    assert not should_mark_not_ready(pod(ready="True", ready_since=at(5)), node("False"))
    # an Unknown node has no agent: always marked
    assert should_mark_not_ready(pod(ready="True", ready_since=at(5)), node("Unknown"))

    marked = marked_not_ready(ready_pod, at(10))
    assert marked is not None and ready_pod.status.condition("Ready").status == "True"  # a copy
    condition = marked.status.condition("Ready")
    assert condition.status == "False" and condition.last_transition_time == at(10)
    assert marked_not_ready(pod(ready="False"), at(10)) is None


def test_eviction_first_marks_the_disruption_target() -> None:
    p = pod(ready="True", ready_since=T0)
    marked = with_disruption_target(p, at(3))
    assert marked is not None and p.status.condition("DisruptionTarget") is None
    condition = marked.status.condition("DisruptionTarget")
    assert (condition.status, condition.reason, condition.message) == (
        "True", "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")
    assert marked.status.condition("Ready").status == "True"  # the rest is untouched
    assert with_disruption_target(marked, at(9)) is None


# -- admission and strategies --------------------------------------------------------------

def test_default_tolerations_are_added_unless_the_pod_tolerates_the_key() -> None:
    admission = Admission(default_not_ready_toleration_seconds=300, default_unreachable_toleration_seconds=60)
    added = with_default_tolerations(None, admission)
    assert added is not None and [t.to_dict() for t in added] == [
        {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
    ]
    own = [tol(UNREACHABLE, 5)]
    result = with_default_tolerations(own, admission)
    assert result is not None and [t.key for t in result] == [UNREACHABLE, NOT_READY]
    assert result[0].toleration_seconds == 5  # the pod's own is kept
    assert with_default_tolerations([tol(None)], admission) is None  # empty key tolerates both
    assert with_default_tolerations([tol(NOT_READY, effect=None), tol(UNREACHABLE, 1)], admission) is None
    # a NoSchedule toleration of the key is not one for NoExecute
    result = with_default_tolerations([tol(UNREACHABLE, effect="NoSchedule")], admission)
    assert result is not None and len(result) == 3


def test_pods_are_admitted_on_create_and_update_but_not_on_status() -> None:
    admission = Admission()
    created = prepare_for_create(bare_pod("p"), admission)
    assert len(created.spec.tolerations) == 2
    stripped = created.deep_copy()
    stripped.spec.tolerations = None
    assert len(prepare_for_update(created, stripped, admission, subresource=None).spec.tolerations) == 2
    assert prepare_for_update(created, stripped, admission, subresource="status").spec.tolerations is None


def test_namespaces_get_the_kubernetes_finalizer_and_keep_it_across_updates() -> None:
    ns = prepare_for_create(Namespace(metadata=ObjectMeta(name="team"),
                                      spec=NamespaceSpec(finalizers=["example.com/x"])), Admission())
    assert ns.spec.finalizers == ["example.com/x", "kubernetes"] and ns.status.phase == "Active"
    replaced = Namespace(metadata=ObjectMeta(name="team"))  # kubectl replace without spec
    assert prepare_for_update(ns, replaced, Admission(), subresource=None).spec.finalizers == ns.spec.finalizers


def test_namespace_deletion_marks_then_waits_for_finalizers() -> None:
    ns = prepare_for_create(Namespace(metadata=ObjectMeta(name="team")), Admission())
    marked = mark_namespace_for_deletion(ns, T0)
    assert marked is not None and marked.metadata.deletion_timestamp == T0 and marked.status.phase == "Terminating"
    assert mark_namespace_for_deletion(marked, at(5)) is marked  # again: unchanged, still waiting
    finalized = marked.deep_copy()
    finalized.spec.finalizers = []
    assert mark_namespace_for_deletion(finalized, at(5)) is None  # nothing left: delete now
    assert should_delete_during_update(marked, finalized)
    assert not should_delete_during_update(ns, ns)
    legacy = Namespace(metadata=ObjectMeta(name="old"), status=NamespaceStatus(phase="Active"))
    assert mark_namespace_for_deletion(legacy, T0).spec.finalizers == ["kubernetes"]


def test_graceful_deletion_timestamp_is_delete_time_plus_grace() -> None:
    assert graceful_deletion(None, None, 30, T0) == (at(30), 30)
    assert graceful_deletion(at(30), 30, 30, at(10)) is None  # same grace again: unchanged
    assert graceful_deletion(at(30), 30, 60, at(10)) is None  # longer: unchanged
    assert graceful_deletion(at(30), 30, 5, at(10)) == (at(5), 5)  # shorter: from the first request


@settings(deadline=None)  # pure and fast; a loaded CI machine must not turn slowness into failure
@given(first=st.integers(1, 3600), second=st.integers(0, 3600), delay=st.integers(0, 100))
def test_graceful_deletion_never_moves_later(first: int, second: int, delay: int) -> None:
    stamp, grace = graceful_deletion(None, None, first, T0)  # type: ignore[misc]
    again = graceful_deletion(stamp, grace, second, at(delay))
    if again is not None:
        assert again[0] < stamp and again[1] == second


def test_forbidden_in_terminating_namespace_is_kube_apiservers_status() -> None:
    status = forbidden_in_terminating_namespace("pods", "", "web", "team").status.to_dict()
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('pods "web" is forbidden: unable to create new content in namespace team '
                                 "because it is being terminated")
    assert status["details"]["causes"] == [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                            "message": "namespace team is being terminated"}]
    unnamed = forbidden_in_terminating_namespace("replicasets", "apps", None, "team").status.message
    assert unnamed.startswith("replicasets.apps is forbidden: ")
    assert is_namespace_terminating(forbidden_in_terminating_namespace("pods", "", "web", "team"))
    assert not is_namespace_terminating(errors.forbidden("pods is forbidden: something else"))
    assert not is_namespace_terminating(ValueError("x"))


# -- the namespace controller's plan -------------------------------------------------------

def terminating() -> Namespace:
    ns = prepare_for_create(Namespace(metadata=ObjectMeta(name="team")), Admission())
    marked = mark_namespace_for_deletion(ns, T0)
    assert marked is not None
    return marked


def content(name: str, resource: str = "pods", **kw: Any) -> Content:
    return Content(resource=resource, name=name, uid=f"uid-{name}", deleting=kw.pop("deleting", False), **kw)


def test_namespace_plan_deletes_everything_then_finalizes() -> None:
    assert plan_namespace(prepare_for_create(Namespace(metadata=ObjectMeta(name="a")), Admission()), [], T0) is None
    ns = terminating()
    empty = plan_namespace(ns, [], T0)
    assert empty is not None and empty.finalize and not empty.delete
    conditions = {c.type: (c.status, c.reason) for c in empty.conditions}
    assert conditions["NamespaceContentRemaining"] == ("False", "ContentRemoved")

    items = [content("rs", "replicasets.apps"), content("bound", graceful=True), content("unbound"),
             content("going", deleting=True, deletion_timestamp=at(20), graceful=True),
             content("kept", "replicasets.apps", finalizers=("foregroundDeletion",))]
    plan = plan_namespace(ns, items, T0)
    assert plan is not None and not plan.finalize
    assert {c.name for c in plan.delete} == {"rs", "bound", "unbound", "kept"}
    conditions = {c.type: c for c in plan.conditions}
    remaining = conditions["NamespaceContentRemaining"]
    assert remaining.status == "True" and remaining.message == (
        "Some resources are remaining: pods has 2 resource instances, replicasets.apps has 1 resource instances")
    assert conditions["NamespaceFinalizersRemaining"].message == (
        "Some content in the namespace has finalizers remaining: foregroundDeletion in 1 resource instances")
    assert plan.requeue_after is not None and 0 < plan.requeue_after <= 15

    finalized = ns.deep_copy()
    finalized.spec.finalizers = []
    assert plan_namespace(finalized, items, T0) is None  # not ours any more


@settings(deadline=None)  # pure and fast; a loaded CI machine must not turn slowness into failure
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), max_size=8))
def test_namespace_plan_invariants(flags: list[tuple[bool, bool, bool]]) -> None:
    """Never finalize while something that only gets marked remains; never delete twice."""
    items = [content(f"o{i}", deleting=d, graceful=g, finalizers=("f",) if f else ())
             for i, (d, g, f) in enumerate(flags)]
    plan = plan_namespace(terminating(), items, T0)
    assert plan is not None
    assert all(not c.deleting for c in plan.delete)
    lingering = any(c.deleting or c.graceful or c.finalizers for c in items)
    assert plan.finalize == (not lingering)
    assert (plan.requeue_after is None) == plan.finalize
