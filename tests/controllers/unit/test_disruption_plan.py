"""The disruption rules without I/O: a PodDisruptionBudget's counts and status from its pods
(controllers.disruption_plan) and what an eviction may spend (kubelite.api.disruption), each as
kube-controller-manager's disruption controller and kube-apiserver's eviction handler decide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api import disruption, errors
from kubelite.api.core import Pod, PodCondition
from kubelite.api.meta import OwnerReference
from kubelite.util import clock

from controllers import disruption_plan as plan

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RS = OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web-1", uid="rs-uid", controller=True)


def pod(name: str, *, ready: bool = True, phase: str = "Running", owner: OwnerReference | None = RS,
        labels: dict[str, str] | None = None, deleting: bool = False) -> Pod:
    return Pod.model_validate({
        "metadata": {"name": name, "namespace": "default", "labels": labels if labels is not None else {"app": "web"},
                     "ownerReferences": [owner.to_dict()] if owner else None,
                     "deletionTimestamp": clock.format_time(NOW) if deleting else None},
        "spec": {"containers": [{"name": "c", "image": "x:1"}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    })


def budget(spec: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}, "status": status or {}}


def scale_of(replicas: int) -> plan.ScaleFinder:
    return lambda ref, namespace: (ref.uid, replicas) if ref.uid == "rs-uid" else None


def test_an_integer_min_available_counts_the_selected_pods() -> None:
    pods = [pod(f"p{i}") for i in range(3)]
    counts = plan.expected_and_desired({"minAvailable": 2}, pods, scale_of(10))
    assert (counts.expected, counts.desired) == (3, 2)  # the controller's scale is not asked


def test_percentages_and_max_unavailable_take_the_controllers_scale_rounded_up() -> None:
    pods = [pod(f"p{i}") for i in range(3)]
    assert (plan.expected_and_desired({"minAvailable": "50%"}, pods, scale_of(5)).desired) == 3  # ceil(2.5)
    counts = plan.expected_and_desired({"maxUnavailable": "25%"}, pods, scale_of(5))
    assert (counts.expected, counts.desired) == (5, 3)  # 5 - ceil(1.25)
    assert plan.expected_and_desired({"maxUnavailable": 9}, pods, scale_of(5)).desired == 0  # never below 0
    assert plan.expected_and_desired({}, pods, scale_of(5)).desired == 0


def test_unmanaged_pods_are_reported_and_a_missing_controller_fails_the_sync() -> None:
    pods = [pod("p0"), pod("bare", owner=None)]
    counts = plan.expected_and_desired({"maxUnavailable": 1}, pods, scale_of(2))
    assert (counts.expected, counts.desired, counts.unmanaged) == (2, 1, ["bare"])
    orphan = pod("o", owner=OwnerReference(api_version="batch/v1", kind="Job", name="j", uid="job-uid", controller=True))
    with pytest.raises(plan.SyncFailed, match='found no controllers for pod "o"'):
        plan.expected_and_desired({"minAvailable": "50%"}, [orphan], scale_of(2))
    with pytest.raises(plan.SyncFailed):
        plan.expected_and_desired({"maxUnavailable": "half"}, [pod("p0")], scale_of(2))


def test_healthy_means_ready_not_deleting_and_not_just_evicted() -> None:
    recent = clock.format_time(NOW - timedelta(seconds=30))
    pods = [pod("ready"), pod("unready", ready=False), pod("deleting", deleting=True), pod("evicted")]
    assert plan.count_healthy(pods, {"evicted": recent}, NOW) == 1
    assert plan.count_healthy(pods, {}, NOW) == 2


def test_disrupted_pods_are_kept_until_gone_or_expired() -> None:
    recent, stale = NOW - timedelta(seconds=30), NOW - timedelta(minutes=3)
    recorded = {"kept": clock.format_time(recent), "stale": clock.format_time(stale),
                "deleting": clock.format_time(recent), "gone": clock.format_time(recent)}
    result = plan.disrupted_pods(recorded, [pod("kept"), pod("stale"), pod("deleting", deleting=True)], NOW)
    assert result.pods == {"kept": recorded["kept"]}
    assert result.not_deleted == ["stale"]
    assert result.recheck_at == recent + disruption.DELETION_TIMEOUT
    assert plan.recheck_after(result, NOW) == 90.0


def test_status_and_its_condition() -> None:
    pdb = budget({"minAvailable": 2})
    counts = plan.Counts(expected=3, desired=2)
    updated = plan.new_status(pdb, healthy=3, counts=counts, disrupted={}, now=NOW)
    assert updated is not None
    status = updated["status"]
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1, "expectedPods": 3, "observedGeneration": 1}
    assert status["conditions"] == [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                     "message": "", "lastTransitionTime": clock.format_time(NOW),
                                     "observedGeneration": 1}]
    assert plan.new_status(updated, healthy=3, counts=counts, disrupted={}, now=NOW) is None  # up to date
    later = plan.new_status(updated, healthy=2, counts=counts, disrupted={}, now=NOW + timedelta(minutes=1))
    assert later is not None and later["status"]["disruptionsAllowed"] == 0
    assert later["status"]["conditions"][0]["reason"] == "InsufficientPods"
    assert later["status"]["conditions"][0]["lastTransitionTime"] == clock.format_time(NOW + timedelta(minutes=1))
    failed = plan.failed_status(updated, 'found no controllers for pod "o"', NOW)
    assert failed["status"]["disruptionsAllowed"] == 0
    assert failed["status"]["conditions"][0]["reason"] == "SyncFailed"
    assert failed["status"]["conditions"][0]["message"] == 'found no controllers for pod "o"'


@given(healthy=st.integers(0, 50), desired=st.integers(0, 50), expected=st.integers(0, 50),
       generation=st.integers(1, 5))
def test_disruptions_allowed_invariants(healthy: int, desired: int, expected: int, generation: int) -> None:
    """Allowed = healthy − desired, never negative, none while no pod is expected; the condition agrees;
    a second computation from the written status writes nothing."""
    pdb = budget({"minAvailable": desired}, generation=generation)
    counts = plan.Counts(expected=expected, desired=desired)
    updated = plan.new_status(pdb, healthy=healthy, counts=counts, disrupted={}, now=NOW)
    assert updated is not None
    allowed = updated["status"]["disruptionsAllowed"]
    assert allowed == (max(0, healthy - desired) if expected > 0 else 0)
    assert (updated["status"]["conditions"][0]["status"] == "True") == (allowed > 0)
    assert updated["status"]["observedGeneration"] == generation
    assert disruption.conditions_up_to_date(updated)
    assert plan.new_status(updated, healthy=healthy, counts=counts, disrupted={}, now=NOW) is None


# -- what the Eviction API decides ----------------------------------------------------------------------

def test_selectors_absent_selects_nothing_and_empty_selects_all() -> None:
    assert disruption.selects(budget({}), pod("p"))
    assert not disruption.selects(budget({}), pod("p", labels={"app": "db"}))
    assert disruption.selects({"metadata": {"namespace": "default"}, "spec": {"selector": {}}}, pod("p", labels={}))
    assert not disruption.selects({"metadata": {"namespace": "default"}, "spec": {}}, pod("p"))
    assert not disruption.selects({"metadata": {"namespace": "other"}, "spec": {"selector": {}}}, pod("p"))
    bad = {"metadata": {"namespace": "default"},
           "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]}}}
    assert not disruption.selects(bad, pod("p"))


def test_which_pods_skip_the_budget() -> None:
    assert disruption.can_ignore_budget(pod("p", phase="Pending"))
    assert disruption.can_ignore_budget(pod("p", phase="Succeeded"))
    assert disruption.can_ignore_budget(pod("p", deleting=True))
    assert not disruption.can_ignore_budget(pod("p"))
    assert disruption.must_pin_resource_version(pod("p", phase="Pending"))
    assert not disruption.must_pin_resource_version(pod("p", phase="Failed"))


def test_an_unready_pod_goes_free_only_while_the_budget_is_met_or_always_allowed() -> None:
    met = budget({"minAvailable": 2}, {"currentHealthy": 2, "desiredHealthy": 2})
    short = budget({"minAvailable": 2}, {"currentHealthy": 1, "desiredHealthy": 2})
    assert disruption.unhealthy_pod_may_go(met, pod("p", ready=False))
    assert not disruption.unhealthy_pod_may_go(short, pod("p", ready=False))
    assert not disruption.unhealthy_pod_may_go(met, pod("p"))  # a ready pod spends a disruption
    short["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    assert disruption.unhealthy_pod_may_go(short, pod("p", ready=False))


def test_spending_a_disruption() -> None:
    pdb = budget({"minAvailable": 2}, {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2,
                                       "observedGeneration": 1})
    spent = disruption.spend_disruption(pdb, "p0", NOW, dry_run=False)
    assert spent["status"]["disruptionsAllowed"] == 0
    assert spent["status"]["disruptedPods"] == {"p0": clock.format_time(NOW)}
    assert spent["status"]["conditions"][0]["reason"] == "InsufficientPods"
    assert pdb["status"]["disruptionsAllowed"] == 1  # a copy
    assert "disruptedPods" not in disruption.spend_disruption(pdb, "p0", NOW, dry_run=True)["status"]

    with pytest.raises(errors.ApiError) as refused:
        disruption.spend_disruption(spent, "p1", NOW, dry_run=False)
    assert refused.value.code == 429 and refused.value.reason == "TooManyRequests"
    assert refused.value.status.message == "Cannot evict pod as it would violate the pod's disruption budget."
    details = refused.value.status.details
    assert details is not None and details.causes is not None
    assert details.causes[0].to_dict() == {"reason": "DisruptionBudget",
                                           "message": "The disruption budget web needs 2 healthy pods and has 3 currently"}

    with pytest.raises(errors.ApiError) as unseen:
        disruption.spend_disruption(budget({"minAvailable": 2}, {"disruptionsAllowed": 5}, generation=2), "p", NOW,
                                    dry_run=False)
    assert unseen.value.code == 429 and unseen.value.status.details is not None
    assert unseen.value.status.details.retry_after_seconds == 10
    assert "is still being processed by the server" in str(unseen.value.status.details.causes)
    negative = budget({"minAvailable": 2}, {"disruptionsAllowed": -1, "observedGeneration": 1})
    with pytest.raises(errors.ApiError) as forbidden:
        disruption.spend_disruption(negative, "p", NOW, dry_run=False)
    assert forbidden.value.code == 403


def test_when_a_disruption_target_goes_stale() -> None:
    def marked(reason: str, since: datetime | None, **kwargs: Any) -> Pod:
        p = pod("p", **kwargs)
        assert p.status is not None
        p.status = p.status.model_copy(update={"conditions": [PodCondition(
            type="DisruptionTarget", status="True", reason=reason, last_transition_time=since)]})
        return p
    assert disruption.stale_disruption_wait(marked("EvictionByEvictionAPI", NOW - timedelta(seconds=30)), NOW) == 90.0
    assert disruption.stale_disruption_wait(marked("EvictionByEvictionAPI", None), NOW) == 0.0  # kube: from time zero
    assert disruption.stale_disruption_wait(marked("TerminationByKubelet", NOW), NOW) is None
    assert disruption.stale_disruption_wait(marked("EvictionByEvictionAPI", NOW, deleting=True), NOW) is None
    assert disruption.stale_disruption_wait(marked("EvictionByEvictionAPI", NOW, phase="Failed"), NOW) is None
    assert disruption.stale_disruption_wait(pod("p"), NOW) is None
