"""Pure Job and CronJob decisions (controllers/job_plan.py, controllers/cronjob_plan.py): tables and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controllers import cronjob_plan as cron
from controllers import job_plan as plan
from kubelite.api.core import Pod
from kubelite.api.batch_rules import JOB_CONTROLLER_NAME, job_immutable, managed_by_errors, schedule_error, time_zone_error

NOW = datetime(2026, 11, 30, 22, 0, 30, tzinfo=UTC)


def pod(uid: str, phase: str = "Running", *, finalizer: bool = True, index: int | None = None,
        deleting: bool = False, finished: datetime | None = None, exit_code: int = 1, ready: bool = False) -> Pod:
    meta: dict[str, Any] = {"name": f"p-{uid}", "namespace": "default", "uid": uid,
                            "creationTimestamp": "2026-11-30T21:00:00Z"}
    if finalizer:
        meta["finalizers"] = [plan.TRACKING_FINALIZER]
    if index is not None:
        meta["annotations"] = {plan.COMPLETION_INDEX: str(index)}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T21:59:00Z"
    status: dict[str, Any] = {"phase": phase}
    if phase in ("Succeeded", "Failed"):
        status["containerStatuses"] = [{"name": "c", "restartCount": 0, "ready": False, "image": "x", "imageID": "",
                                        "state": {"terminated": {"exitCode": 0 if phase == "Succeeded" else exit_code,
                                                                 "finishedAt": (finished or NOW - timedelta(minutes=5))
                                                                 .strftime("%Y-%m-%dT%H:%M:%SZ")}}}]
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    return Pod.model_validate({"metadata": meta, "spec": {"containers": [{"name": "c", "image": "x"}]},
                               "status": status})


def job(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "j", "namespace": "default", "uid": "job-uid"},
            "spec": {"template": {"spec": {"restartPolicy": "Never"}}, **spec}}


def spec_of(**spec: Any) -> plan.JobSpec:
    return plan.JobSpec.from_doc(job(**spec))


# -- tracking ------------------------------------------------------------------------------------

def test_finished_pods_are_recorded_uncounted_then_counted_once() -> None:
    spec = spec_of(completions=3, parallelism=2)
    pods = [pod("a", "Succeeded"), pod("b", "Failed"), pod("c")]
    tracking = plan.track({}, pods, spec, skip=set(), now=NOW)
    assert tracking.status["uncountedTerminatedPods"] == {"succeeded": ["a"], "failed": ["b"]}
    assert {p.metadata.uid for p in tracking.unfinalize} == {"a", "b"}
    counted = plan.count_finalized(tracking.status, {"a", "b"}, spec)
    assert (counted["succeeded"], counted["failed"], counted["uncountedTerminatedPods"]) == (1, 1, {})
    # the same pods seen again without their finalizer: nothing more to count
    released = [pod("a", "Succeeded", finalizer=False), pod("b", "Failed", finalizer=False), pod("c")]
    again = plan.track(counted, released, spec, skip=set(), now=NOW)
    assert again.unfinalize == [] and plan.count_finalized(again.status, set(), spec)["succeeded"] == 1


def test_a_removal_not_yet_seen_is_not_counted_again() -> None:
    spec = spec_of(completions=3)
    counted = {"succeeded": 1, "failed": 0}
    stale = [pod("a", "Succeeded")]  # the cache still shows the finalizer this controller removed
    tracking = plan.track(counted, stale, spec, skip={"a"}, now=NOW)
    assert tracking.unfinalize == [] and not tracking.status.get("uncountedTerminatedPods")


def test_an_interrupted_count_resumes_after_a_restart() -> None:
    """Step 1 landed, the finalizer went, the manager died before step 3: the uid is still uncounted."""
    spec = spec_of(completions=2)
    status = {"succeeded": 0, "uncountedTerminatedPods": {"succeeded": ["a"]}}
    tracking = plan.track(status, [pod("a", "Succeeded", finalizer=False)], spec, skip=set(), now=NOW)
    counted = plan.count_finalized(tracking.status, {"a"}, spec)
    assert counted["succeeded"] == 1 and counted["uncountedTerminatedPods"] == {}


def test_pod_failure_policy_ignore_and_fail_job() -> None:
    rules = [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},
             {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [7]}}]
    spec = spec_of(completions=1, podFailurePolicy={"rules": rules})
    ignored = plan.track({}, [pod("a", "Failed", exit_code=42)], spec, skip=set(), now=NOW)
    assert not ignored.status.get("uncountedTerminatedPods") and len(ignored.unfinalize) == 1
    failing = plan.track({}, [pod("b", "Failed", exit_code=7)], spec, skip=set(), now=NOW)
    target = plan.condition(failing.status, "FailureTarget")
    assert target is not None and target["reason"] == "PodFailurePolicy"
    assert "exit code 7 matching FailJob rule at index 1" in target["message"]


# -- decisions -------------------------------------------------------------------------------------

def test_creates_up_to_parallelism_and_remaining_completions() -> None:
    assert plan.decide(job(completions=5, parallelism=2), {}, [], NOW).create == 2
    decision = plan.decide(job(completions=5, parallelism=2), {"succeeded": 4}, [pod("x")], NOW)
    assert decision.create == 0 and decision.status["active"] == 1
    assert plan.decide(job(parallelism=3), {}, [], NOW).create == 3  # work queue: completions unset
    too_many = plan.decide(job(completions=2, parallelism=1), {}, [pod("a"), pod("b", ready=True)], NOW)
    assert [p.metadata.uid for p in too_many.delete] == ["a"]  # the not-ready one goes first


def test_success_sets_success_criteria_then_complete() -> None:
    running = [pod("x")]
    first = plan.decide(job(completions=2), {"succeeded": 2, "startTime": "2026-11-30T21:00:00Z"}, running, NOW)
    assert plan.condition(first.status, "SuccessCriteriaMet") is not None
    assert plan.condition(first.status, "Complete") is None and [p.metadata.uid for p in first.delete] == ["x"]
    assert not first.count_deleted  # released: leftovers of a successful Job are no failures
    done = plan.decide(job(completions=2), first.status, [], NOW)
    complete = plan.condition(done.status, "Complete")
    assert complete is not None and complete["reason"] == "CompletionsReached"
    assert done.status["completionTime"] == "2026-11-30T22:00:30Z"
    assert ("Normal", "Completed", "Job completed") in done.events


def test_backoff_limit_and_deadline_fail_the_job() -> None:
    failed = plan.decide(job(completions=1, backoffLimit=1), {"failed": 2}, [], NOW)
    assert plan.condition(failed.status, "Failed")["reason"] == "BackoffLimitExceeded"  # type: ignore[index]
    late = plan.decide(job(completions=1, activeDeadlineSeconds=60),
                       {"startTime": "2026-11-30T21:58:00Z"}, [pod("x")], NOW)
    assert plan.condition(late.status, "FailureTarget")["reason"] == "DeadlineExceeded"  # type: ignore[index]
    assert [p.metadata.uid for p in late.delete] == ["x"] and plan.condition(late.status, "Failed") is None
    assert late.count_deleted  # a failing Job's stopped pods are counted as failed, as kube does
    soon = plan.decide(job(completions=1, activeDeadlineSeconds=60), {"startTime": "2026-11-30T22:00:00Z"}, [], NOW)
    assert soon.requeue_after == 30.0


def test_pod_failure_backoff_waits_10s_doubling() -> None:
    assert [plan.backoff_delay(n) for n in range(6)] == [0, 10, 20, 40, 80, 160]
    assert plan.backoff_delay(7) == plan.backoff_delay(50) == 360  # capped at six minutes
    recent = [pod("a", "Failed", finished=NOW - timedelta(seconds=5))]
    waiting = plan.decide(job(completions=1, backoffLimit=6), {"failed": 1}, recent, NOW)
    assert waiting.create == 0 and waiting.requeue_after == 5.0
    after = plan.decide(job(completions=1, backoffLimit=6), {"failed": 1},
                        [pod("a", "Failed", finished=NOW - timedelta(seconds=11))], NOW)
    assert after.create == 1


def test_suspend_deletes_pods_and_resume_restarts_the_clock() -> None:
    suspended = plan.decide(job(completions=3, suspend=True), {"startTime": "2026-11-30T21:00:00Z"}, [pod("x")], NOW)
    assert [p.metadata.uid for p in suspended.delete] == ["x"] and "startTime" not in suspended.status
    assert plan.condition(suspended.status, "Suspended")["reason"] == "JobSuspended"  # type: ignore[index]
    resumed = plan.decide(job(completions=3), suspended.status, [], NOW)
    assert resumed.status["startTime"] == "2026-11-30T22:00:30Z" and resumed.create == 1
    assert resumed.status["conditions"][0]["status"] == "False"


def test_indexed_creates_missing_indexes_and_one_pod_per_index() -> None:
    spec = {"completions": 4, "parallelism": 3, "completionMode": "Indexed"}
    decision = plan.decide(job(**spec), {"completedIndexes": "1"}, [pod("a", index=0)], NOW)
    assert decision.create_indexes == [2, 3]
    dupes = plan.decide(job(**spec), {}, [pod("a", index=0), pod("b", index=0)], NOW)
    assert len(dupes.delete) == 1 and dupes.create_indexes == [1, 2]
    tracking = plan.track({}, [pod("a", "Succeeded", index=2), pod("b", "Succeeded", index=2)],
                          plan.JobSpec.from_doc(job(**spec)), skip=set(), now=NOW)
    assert tracking.status["completedIndexes"] == "2"
    assert plan.count_finalized(tracking.status, {"a", "b"}, plan.JobSpec.from_doc(job(**spec)))["succeeded"] == 1


def test_ttl_after_finished() -> None:
    finished = {"conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-11-30T21:59:30Z"}
    assert plan.decide(job(ttlSecondsAfterFinished=100), finished, [], NOW).requeue_after == 40.0
    assert plan.decide(job(ttlSecondsAfterFinished=60), finished, [], NOW).delete_job


def test_managed_by_another_controller_leaves_only_the_ttl() -> None:
    assert plan.managed_by_other(job()) is None and plan.managed_by_other(job(managedBy=JOB_CONTROLLER_NAME)) is None
    assert plan.managed_by_other(job(managedBy="example.com/queue")) == "example.com/queue"
    running = {**job(managedBy="example.com/queue", ttlSecondsAfterFinished=0), "status": {"active": 3}}
    decided = plan.decide_external(running, NOW)
    assert (decided.status, decided.create, decided.delete, decided.delete_job, decided.requeue_after) == (
        {"active": 3}, 0, [], False, None)
    finished = {"conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-11-30T21:59:30Z"}
    assert plan.decide_external({**job(managedBy="x.io/q", ttlSecondsAfterFinished=100), "status": finished},
                                NOW).requeue_after == 40.0
    assert plan.decide_external({**job(managedBy="x.io/q", ttlSecondsAfterFinished=30), "status": finished},
                                NOW).delete_job


def test_managed_by_validation_and_immutability() -> None:
    def fields(value: str) -> list[tuple[str | None, str | None]]:
        return [(c.reason, c.message) for c in managed_by_errors(value, "spec.managedBy")]
    assert fields("kubernetes.io/job-controller") == [] and fields("example.com/a/b_c~:1") == []
    assert fields("") == [("FieldValueRequired", "Required value: ")]
    for bad in ("queue", "/queue", "example.com/", "Example.com/q", "example.com/q q"):
        assert [r for r, _ in fields(bad)] == ["FieldValueInvalid"], bad
    assert fields("example.com/q q")[0][1] and "Invalid path" in (fields("example.com/q q")[0][1] or "")
    assert fields("example.com/" + "q" * 51) == [] and \
        fields("example.com/" + "q" * 52) == [("FieldValueTooLong", "Too long: may not be more than 63 bytes")]
    old = job(managedBy="example.com/queue")
    assert job_immutable(old, old) == []
    for new in (job(managedBy="example.com/other"), job()):
        assert [c.field for c in job_immutable(old, new)] == ["spec.managedBy"]


@given(st.sets(st.integers(0, 200)))
def test_index_intervals_round_trip(indexes: set[int]) -> None:
    text = plan.format_indexes(indexes)
    assert plan.parse_indexes(text) == indexes
    assert ",," not in text


@settings(max_examples=200, deadline=None)
@given(completions=st.integers(1, 30), parallelism=st.integers(0, 10), succeeded=st.integers(0, 35),
       running=st.integers(0, 12), terminating=st.integers(0, 3))
def test_never_more_than_parallelism_nor_remaining_work(completions: int, parallelism: int, succeeded: int,
                                                        running: int, terminating: int) -> None:
    pods = [pod(f"r{i}") for i in range(running)] + [pod(f"t{i}", deleting=True) for i in range(terminating)]
    decision = plan.decide(job(completions=completions, parallelism=parallelism), {"succeeded": succeeded}, pods, NOW)
    after = running + decision.create - len(decision.delete)
    if plan.condition(decision.status, "SuccessCriteriaMet") is None:
        assert after <= parallelism
        assert after <= max(0, completions - succeeded)
        assert decision.create == 0 or not decision.delete
    else:
        assert decision.create == 0 and after == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Succeeded", "Failed", "Running"]), max_size=12), st.randoms())
def test_each_finished_pod_is_counted_exactly_once(phases: list[str], rnd: Any) -> None:
    """Replaying the protocol with arbitrary interruptions (finalizer removals that fail) never double-counts."""
    spec = spec_of(completions=100, parallelism=100)
    pods = {f"u{i}": pod(f"u{i}", phase) for i, phase in enumerate(phases)}
    status: dict[str, Any] = {}
    for _ in range(4):
        tracking = plan.track(status, list(pods.values()), spec, skip=set(), now=NOW)
        removed = {p.metadata.uid or "" for p in tracking.unfinalize if rnd.random() < 0.6}
        for uid in removed:
            pods[uid] = pod(uid, pods[uid].phase, finalizer=False)
        status = plan.count_finalized(tracking.status, removed, spec)
    tracking = plan.track(status, list(pods.values()), spec, skip=set(), now=NOW)
    status = plan.count_finalized(tracking.status, {p.metadata.uid or "" for p in tracking.unfinalize}, spec)
    assert status["succeeded"] == phases.count("Succeeded")
    assert status["failed"] == phases.count("Failed")


# -- CronJob ---------------------------------------------------------------------------------------

def cronjob(schedule: str = "*/1 * * * *", *, created: str = "2026-11-30T21:55:10Z", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "tick", "namespace": "default", "uid": "cj", "creationTimestamp": created},
            "spec": {"schedule": schedule, "jobTemplate": {"metadata": {"labels": {"team": "a"}}, "spec": {}}, **spec}}


def child(name: str, *, outcome: str | None = None, uid: str | None = None, started: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": started} if started else {}
    if outcome:
        status["conditions"] = [{"type": outcome, "status": "True"}]
        if outcome == "Complete":
            status["completionTime"] = "2026-11-30T21:59:40Z"
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or name}, "status": status}


def test_most_recent_missed_time_only_and_job_name() -> None:
    decision = cron.decide(cronjob(), [], NOW)
    assert decision.create is not None
    scheduled = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    assert decision.create["metadata"]["name"] == f"tick-{int(scheduled.timestamp()) // 60}"
    assert decision.create["metadata"]["annotations"][cron.SCHEDULED_TIMESTAMP] == "2026-11-30T22:00:00Z"
    assert decision.create["metadata"]["labels"] == {"team": "a"}
    assert decision.status["lastScheduleTime"] == "2026-11-30T22:00:00Z"
    assert abs((decision.requeue_after or 0) - 30.1) < 1e-6  # the next minute, plus a little


def test_nothing_due_requeues_for_the_next_time() -> None:
    decision = cron.decide(cronjob(created="2026-11-30T22:00:10Z"), [], NOW)
    assert decision.create is None and decision.requeue_after is not None and decision.requeue_after > 29


def test_starting_deadline_and_too_many_misses() -> None:
    late = NOW + timedelta(seconds=15)  # 22:00 was due 45 s ago: past a 10 s starting deadline
    assert cron.decide(cronjob(), [], late).create is not None
    missed = cron.decide(cronjob(startingDeadlineSeconds=10), [], late)
    assert missed.create is None and "lastScheduleTime" not in missed.status
    old = cron.decide(cronjob(created="2026-11-29T00:00:00Z"), [], NOW)
    assert old.create is not None and any(e[1] == "TooManyMissedTimes" for e in old.events)
    assert old.status["lastScheduleTime"] == "2026-11-30T22:00:00Z"


def test_concurrency_policies() -> None:
    running = {"active": [{"name": "tick-1", "uid": "r1"}]}
    doc = {**cronjob(concurrencyPolicy="Forbid"), "status": running}
    forbid = cron.decide(doc, [child("tick-1", uid="r1")], NOW)
    assert forbid.create is None and forbid.status["active"] == running["active"]
    replace = cron.decide({**cronjob(concurrencyPolicy="Replace"), "status": running}, [child("tick-1", uid="r1")], NOW)
    assert replace.create is not None and [j["metadata"]["name"] for j in replace.delete] == ["tick-1"]
    allow = cron.decide({**cronjob(), "status": running}, [child("tick-1", uid="r1")], NOW)
    assert allow.create is not None and not allow.delete
    manual = cron.decide({**cronjob(), "status": running}, [child("tick-1", uid="r1"), child("by-hand")], NOW)
    assert ("Warning", "UnexpectedJob", "Saw a job that the controller did not create or forgot: by-hand") in \
        manual.events and manual.status["active"] == running["active"]  # reported, not adopted (kube)


def test_finished_jobs_leave_active_and_history_is_trimmed() -> None:
    children = [child(f"ok{i}", outcome="Complete", started=f"2026-11-30T21:5{i}:00Z") for i in range(5)]
    children += [child(f"bad{i}", outcome="Failed", started=f"2026-11-30T21:5{i}:00Z") for i in range(2)]
    doc = {**cronjob(), "status": {"active": [{"name": "ok4", "uid": "ok4"}, {"name": "gone", "uid": "gone"}]}}
    decision = cron.decide(doc, children, NOW)
    assert [e[1] for e in decision.events[:2]] == ["SawCompletedJob", "MissingJob"]
    assert sorted(j["metadata"]["name"] for j in decision.delete) == ["bad0", "ok0", "ok1"]
    assert decision.status["lastSuccessfulTime"] == "2026-11-30T21:59:40Z"


def test_time_zone_shifts_the_schedule() -> None:
    berlin = cron.decide(cronjob("0 23 * * *", created="2026-11-30T21:00:00Z", timeZone="Europe/Berlin"), [], NOW)
    assert berlin.status["lastScheduleTime"] == "2026-11-30T22:00:00Z"  # 23:00 in Berlin is 22:00 UTC
    assert cron.decide(cronjob("0 23 * * *", created="2026-11-30T21:00:00Z"), [], NOW).create is None


def test_suspended_cronjob_starts_nothing() -> None:
    assert cron.decide(cronjob(suspend=True), [], NOW).create is None


def test_schedule_and_time_zone_errors() -> None:
    assert schedule_error("*/5 * * * *") is None and schedule_error("@hourly") is None
    assert schedule_error("0 0 * * * *") and schedule_error("61 * * * *") and schedule_error("TZ=UTC * * * * *")
    assert time_zone_error("Europe/Berlin") is None
    assert time_zone_error("Local") and time_zone_error("Mars/Base") and time_zone_error(" UTC")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["*/1 * * * *", "*/7 * * * *", "0 * * * *", "15 3 * * 1", "@daily"]),
       st.integers(0, 10_000_000), st.integers(0, 5_000_000))
def test_due_times_bracket_now(schedule: str, offset: int, since: int) -> None:
    now = NOW + timedelta(seconds=offset)
    earliest = now - timedelta(seconds=since)
    due = cron.due_times(schedule, None, earliest, now)
    assert due.next_time > now
    if due.most_recent is not None:
        assert earliest < due.most_recent <= now
        assert cron.due_times(schedule, None, due.most_recent, now).most_recent is None  # it is the latest one


@settings(max_examples=200, deadline=None)
@given(completions=st.integers(1, 12), parallelism=st.integers(0, 6), done=st.sets(st.integers(0, 14)),
       running=st.lists(st.integers(0, 14), max_size=10))
def test_indexed_runs_each_open_index_at_most_once(completions: int, parallelism: int, done: set[int],
                                                   running: list[int]) -> None:
    spec = {"completions": completions, "parallelism": parallelism, "completionMode": "Indexed"}
    pods = [pod(f"r{i}", index=index) for i, index in enumerate(running)]
    decision = plan.decide(job(**spec), {"completedIndexes": plan.format_indexes(done)}, pods, NOW)
    if plan.condition(decision.status, "SuccessCriteriaMet") is not None:
        assert set(range(completions)) <= done and not decision.create_indexes
        return
    deleted = {p.metadata.uid for p in decision.delete}
    kept = [plan.completion_index(p) for p in pods if p.metadata.uid not in deleted]
    after = kept + decision.create_indexes
    assert len(after) == len(set(after))  # one pod per index
    assert all(i is not None and i < completions and i not in done for i in after)
    assert len(after) <= parallelism


def indexed_pod(uid: str, index: int, phase: str, failures: int, finished: datetime | None = None) -> Pod:
    p = pod(uid, phase, index=index, finished=finished)
    p.metadata.annotations = {**(p.metadata.annotations or {}), plan.INDEX_FAILURE_COUNT: str(failures)}
    return p


def test_backoff_limit_per_index_fails_only_that_index() -> None:
    spec_doc = {"completions": 3, "parallelism": 3, "completionMode": "Indexed", "backoffLimitPerIndex": 1}
    spec = plan.JobSpec.from_doc(job(**spec_doc))
    long_ago = NOW - timedelta(minutes=10)
    first = plan.track({}, [indexed_pod("a", 0, "Failed", 0, long_ago)], spec, skip=set(), now=NOW)
    assert first.status["failedIndexes"] == ""  # one failure: within the per-index limit
    retry = plan.decide(job(**spec_doc), plan.count_finalized(first.status, {"a"}, spec),
                        [indexed_pod("a", 0, "Failed", 0, long_ago)], NOW)
    assert 0 in retry.create_indexes and retry.index_failures[0] == 1  # the replacement carries the count
    second = plan.track({}, [indexed_pod("b", 0, "Failed", 1, long_ago)], spec, skip=set(), now=NOW)
    assert second.status["failedIndexes"] == "0"
    status = {**plan.count_finalized(second.status, {"b"}, spec), "completedIndexes": "1-2"}
    done = plan.decide(job(**spec_doc), status, [], NOW)
    ending = plan.condition(done.status, "FailureTarget")
    assert ending is not None and ending["reason"] == "FailedIndexes"


def test_max_failed_indexes_and_fail_index_rule() -> None:
    rules = [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]
    spec_doc = {"completions": 4, "parallelism": 2, "completionMode": "Indexed", "backoffLimitPerIndex": 5,
                "maxFailedIndexes": 0, "podFailurePolicy": {"rules": rules}}
    spec = plan.JobSpec.from_doc(job(**spec_doc))
    tracking = plan.track({}, [pod("a", "Failed", index=2, exit_code=3)], spec, skip=set(), now=NOW)
    assert tracking.status["failedIndexes"] == "2"  # FailIndex: no retries for it
    decision = plan.decide(job(**spec_doc), plan.count_finalized(tracking.status, {"a"}, spec), [], NOW)
    assert plan.condition(decision.status, "FailureTarget")["reason"] == "MaxFailedIndexesExceeded"  # type: ignore[index]


def test_success_policy_ends_an_indexed_job_early() -> None:
    spec_doc = {"completions": 5, "parallelism": 5, "completionMode": "Indexed",
                "successPolicy": {"rules": [{"succeededIndexes": "0,4"}, {"succeededCount": 3}]}}
    leader_done = plan.decide(job(**spec_doc), {"completedIndexes": "0,4"}, [pod("x", index=2)], NOW)
    met = plan.condition(leader_done.status, "SuccessCriteriaMet")
    assert met is not None and (met["reason"], met["message"]) == ("SuccessPolicy", "Matched rules at index 0")
    assert [p.metadata.uid for p in leader_done.delete] == ["x"] and not leader_done.count_deleted
    three = plan.decide(job(**spec_doc), {"completedIndexes": "1-3"}, [], NOW)
    assert plan.condition(three.status, "SuccessCriteriaMet")["message"] == "Matched rules at index 1"  # type: ignore[index]
    not_yet = plan.decide(job(**spec_doc), {"completedIndexes": "0,1"}, [], NOW)
    assert plan.condition(not_yet.status, "SuccessCriteriaMet") is None
