"""Pure Job decisions (kube's ``pkg/controller/job``): pod tracking with finalizers, what to create
or delete, when the Job succeeds or fails, and the status to write. Plain data in and out, no I/O.

Counting is the three-step protocol of kube's finalizer-based tracking, so a pod is counted once
even across a controller-manager restart:

1. a finished pod that still has the ``batch.kubernetes.io/job-tracking`` finalizer and whose uid is
   not in ``status.uncountedTerminatedPods`` is added there (status write);
2. its finalizer is removed (pod write);
3. uids whose pods no longer have the finalizer (or are gone) move from ``uncountedTerminatedPods``
   into ``succeeded``/``failed`` (status write).

A finished pod without the finalizer and not in ``uncountedTerminatedPods`` was counted already.

A Job whose ``spec.managedBy`` names another controller (JobManagedBy, beta and on in 1.32) is left
to it: :func:`decide_external` does only what kube's TTL-after-finished controller, which does not
look at ``managedBy``, would do.
The Job document is the camelCase JSON (Job is a stored document kind); pods are typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubelite.api.core import Pod
from kubelite.api.batch_rules import JOB_CONTROLLER_NAME
from kubelite.util.humanize import parse_time
from kubelite.util.clock import format_time

from controllers.podutil import ready_since
from controllers.replicaset_plan import deletion_rank

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # annotation and label
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"  # annotation: the index's failures so far
BACKOFF_BASE_SECONDS = 10.0  # kube's DefaultJobPodFailureBackOff, doubled per consecutive failure
BACKOFF_CAP_SECONDS = 360.0  # "capped at six minutes" (Job docs)

Doc = dict[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- the spec, defaulted ----------------------------------------------------------------------

@dataclass(frozen=True)
class JobSpec:
    completions: int | None
    parallelism: int
    indexed: bool
    backoff_limit: int
    active_deadline_seconds: int | None
    ttl_seconds_after_finished: int | None
    suspend: bool
    restart_on_failure: bool
    replace_failed_only: bool  # podReplacementPolicy: Failed (terminating pods still count as active)
    pod_failure_rules: tuple[Doc, ...] = ()
    backoff_limit_per_index: int | None = None  # Indexed only: an index fails past this many failures
    max_failed_indexes: int | None = None

    @classmethod
    def from_doc(cls, job: Doc) -> JobSpec:
        spec = job.get("spec") or {}
        template_spec = (spec.get("template") or {}).get("spec") or {}
        failure_policy = spec.get("podFailurePolicy") or {}
        completions = spec.get("completions")
        parallelism = spec.get("parallelism")
        if parallelism is None:
            parallelism = 1
        replacement = spec.get("podReplacementPolicy") or ("Failed" if failure_policy else "TerminatingOrFailed")
        return cls(
            completions=completions, parallelism=parallelism,
            indexed=spec.get("completionMode") == "Indexed",
            backoff_limit=6 if spec.get("backoffLimit") is None else spec["backoffLimit"],
            active_deadline_seconds=spec.get("activeDeadlineSeconds"),
            ttl_seconds_after_finished=spec.get("ttlSecondsAfterFinished"),
            suspend=bool(spec.get("suspend")),
            restart_on_failure=template_spec.get("restartPolicy") == "OnFailure",
            replace_failed_only=replacement == "Failed",
            pod_failure_rules=tuple(failure_policy.get("rules") or ()),
            backoff_limit_per_index=spec.get("backoffLimitPerIndex"), max_failed_indexes=spec.get("maxFailedIndexes"),
        )


# -- small facts --------------------------------------------------------------------------------

def rfc3339(moment: datetime) -> str:
    return format_time(moment)


def has_finalizer(pod: Pod) -> bool:
    return TRACKING_FINALIZER in (pod.metadata.finalizers or [])


def is_active(pod: Pod) -> bool:
    return not pod.is_terminated() and pod.metadata.deletion_timestamp is None


def is_terminating(pod: Pod) -> bool:
    return not pod.is_terminated() and pod.metadata.deletion_timestamp is not None


def completion_index(pod: Pod) -> int | None:
    raw = (pod.metadata.annotations or {}).get(COMPLETION_INDEX) or (pod.metadata.labels or {}).get(COMPLETION_INDEX)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def index_failures(pod: Pod) -> int:
    """Failures of the pod's index before it (the annotation the controller puts on replacements)."""
    try:
        return int((pod.metadata.annotations or {}).get(INDEX_FAILURE_COUNT, "0"))
    except ValueError:
        return 0


def failures_by_index(pods: list[Pod]) -> dict[int, int]:
    """index → failed pods so far (kube's backoffLimitPerIndex count, carried on from pod to pod)."""
    counts: dict[int, int] = {}
    for pod in pods:
        index = completion_index(pod)
        if index is not None:
            counts[index] = max(counts.get(index, 0), index_failures(pod) + (1 if pod.phase == "Failed" else 0))
    return counts


def finished_at(pod: Pod) -> datetime:
    """When the pod's last container ended (its creation time when nothing says)."""
    times = [s.state.terminated.finished_at for s in (pod.status.container_statuses or [])
             if s.state and s.state.terminated and s.state.terminated.finished_at] if pod.status else []
    return max(times, default=pod.metadata.creation_timestamp or _EPOCH)


def condition(status: Doc, type_: str) -> Doc | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_ and c.get("status") == "True"),
                None)


def is_finished(status: Doc) -> bool:
    return condition(status, "Complete") is not None or condition(status, "Failed") is not None


def format_indexes(indexes: set[int]) -> str:
    """kube's compressed interval list: {0,1,2,4} → "0-2,4"."""
    parts: list[str] = []
    ordered = sorted(indexes)
    start = prev = None
    for index in [*ordered, None]:
        if index is not None and prev is not None and index == prev + 1:
            prev = index
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = index
    return ",".join(parts)


def parse_indexes(text: str | None, completions: int | None = None) -> set[int]:
    indexes: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            indexes.update(range(int(low), int(high or low) + 1))
        except ValueError:
            continue
    return {i for i in indexes if completions is None or i < completions}


def backoff_delay(consecutive_failures: int) -> float:
    """Seconds to wait before the next pod after this many failures since the last success (0 → none)."""
    if consecutive_failures <= 0:
        return 0.0
    return float(min(BACKOFF_BASE_SECONDS * 2 ** min(consecutive_failures - 1, 32), BACKOFF_CAP_SECONDS))


# -- podFailurePolicy ----------------------------------------------------------------------------

def _exit_codes_match(rule: Doc, pod: Pod) -> bool:
    on = rule.get("onExitCodes")
    if not on:
        return False
    values = set(on.get("values") or [])
    for status in (pod.status.container_statuses or []) if pod.status else []:
        if on.get("containerName") and status.name != on["containerName"]:
            continue
        terminated = status.state.terminated if status.state else None
        if terminated is None or terminated.exit_code == 0:
            continue
        if (terminated.exit_code in values) == (on.get("operator") == "In"):
            return True
    return False


def _conditions_match(rule: Doc, pod: Pod) -> bool:
    for wanted in rule.get("onPodConditions") or []:
        found = pod.status.condition(wanted.get("type", "")) if pod.status else None
        if found is not None and found.status == wanted.get("status", "True"):
            return True
    return False


def failure_policy_action(rules: tuple[Doc, ...], pod: Pod) -> tuple[str, str] | None:
    """(action, message) of the first rule matching a failed pod, None when none does (kube's matchPodFailurePolicy)."""
    for index, rule in enumerate(rules):
        if _exit_codes_match(rule, pod):
            code = next((s.state.terminated.exit_code for s in pod.status.container_statuses or []  # type: ignore[union-attr]
                         if s.state and s.state.terminated and s.state.terminated.exit_code), 0)
            container = next((s.name for s in pod.status.container_statuses or []  # type: ignore[union-attr]
                              if s.state and s.state.terminated and s.state.terminated.exit_code), "")
            return rule.get("action", ""), (f"Container {container} for pod {pod.namespace}/{pod.name} failed with "
                                            f"exit code {code} matching {rule.get('action')} rule at index {index}")
        if _conditions_match(rule, pod):
            return rule.get("action", ""), (f"Pod {pod.namespace}/{pod.name} has condition matching "
                                            f"{rule.get('action')} rule at index {index}")
    return None


# -- step 1 and 3: tracking ---------------------------------------------------------------------

@dataclass
class Tracking:
    """The status with newly finished pods recorded as uncounted, and the pods whose finalizer goes."""

    status: Doc
    unfinalize: list[Pod] = field(default_factory=list)
    fail_job: str | None = None  # a FailJob rule matched: the FailureTarget message


def _uncounted(status: Doc) -> tuple[list[str], list[str]]:
    uncounted = status.get("uncountedTerminatedPods") or {}
    return list(uncounted.get("succeeded") or []), list(uncounted.get("failed") or [])


def track(status: Doc, pods: list[Pod], spec: JobSpec, *, skip: set[str], now: datetime) -> Tracking:
    """Step 1: record finished pods as uncounted; choose the pods whose finalizer to remove.

    ``skip``: uids whose finalizer this controller already removed (its cache has not caught up):
    they were counted. A pod failing under an ``Ignore`` rule is released but never counted.
    """
    new = dict(status)
    succeeded, failed = _uncounted(status)
    known = set(succeeded) | set(failed)
    completed = parse_indexes(status.get("completedIndexes"), spec.completions) if spec.indexed else set()
    failed_indexes = parse_indexes(status.get("failedIndexes"), spec.completions)
    per_index = spec.indexed and spec.backoff_limit_per_index is not None
    tracking = Tracking(new)
    finished_job = is_finished(status)
    for pod in sorted(pods, key=lambda p: (finished_at(p), p.name)):
        uid = pod.metadata.uid or ""
        if not has_finalizer(pod) or uid in skip:
            continue
        if uid in known:
            tracking.unfinalize.append(pod)
            continue
        if pod.phase == "Succeeded":
            index = completion_index(pod)
            if spec.indexed and (index is None or spec.completions is None or index >= spec.completions):
                tracking.unfinalize.append(pod)  # not a valid index: released, not counted
                continue
            succeeded.append(uid)
            if index is not None and spec.indexed:
                completed.add(index)
        elif pod.phase == "Failed":
            action = failure_policy_action(spec.pod_failure_rules, pod) if spec.pod_failure_rules else None
            if action is not None and action[0] == "Ignore":
                tracking.unfinalize.append(pod)
                continue
            failed.append(uid)
            if action is not None and action[0] == "FailJob" and tracking.fail_job is None:
                tracking.fail_job = action[1]
            index = completion_index(pod)
            if per_index and index is not None and index not in completed and (
                    (action is not None and action[0] == "FailIndex")
                    or index_failures(pod) + 1 > (spec.backoff_limit_per_index or 0)):
                failed_indexes.add(index)
        elif not (finished_job and pod.metadata.deletion_timestamp is not None):
            continue  # running: tracked until it ends
        tracking.unfinalize.append(pod)
    if succeeded or failed or status.get("uncountedTerminatedPods") is not None:
        new["uncountedTerminatedPods"] = {k: v for k, v in (("succeeded", succeeded), ("failed", failed)) if v}
    if spec.indexed:
        new["completedIndexes"] = format_indexes(completed)
    if per_index:
        new["failedIndexes"] = format_indexes(failed_indexes)
    if tracking.fail_job and condition(status, "FailureTarget") is None and not finished_job:
        new["conditions"] = _with_condition(status, "FailureTarget", "PodFailurePolicy", tracking.fail_job, now)
    return tracking


def count_finalized(status: Doc, gone: set[str], spec: JobSpec) -> Doc:
    """Step 3: uids in ``gone`` (finalizer removed, or pod deleted) move from uncounted into the counters."""
    new = dict(status)
    succeeded, failed = _uncounted(status)
    done_s = [u for u in succeeded if u in gone]
    done_f = [u for u in failed if u in gone]
    if spec.indexed:
        new["succeeded"] = len(parse_indexes(status.get("completedIndexes"), spec.completions))
    else:
        new["succeeded"] = (status.get("succeeded") or 0) + len(done_s)
    new["failed"] = (status.get("failed") or 0) + len(done_f)
    new["uncountedTerminatedPods"] = {k: v for k, v in (
        ("succeeded", [u for u in succeeded if u not in gone]), ("failed", [u for u in failed if u not in gone])) if v}
    return new


# -- step 2: the decision -----------------------------------------------------------------------

@dataclass
class Decision:
    status: Doc
    create: int = 0  # NonIndexed: this many new pods
    create_indexes: list[int] = field(default_factory=list)  # Indexed: one pod per index
    index_failures: dict[int, int] = field(default_factory=dict)  # Indexed: failures so far, for new pods' annotation
    delete: list[Pod] = field(default_factory=list)
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    delete_job: bool = False  # ttlSecondsAfterFinished expired
    count_deleted: bool = False  # a failing Job's stopped pods count as failed (kube); else they are released


def _with_condition(status: Doc, type_: str, reason: str, message: str, now: datetime,
                    value: str = "True") -> list[Doc]:
    stamp = rfc3339(now)
    kept = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
    if old is not None and old.get("status") == value and old.get("reason") == reason:
        return list(status.get("conditions") or [])
    return [*kept, {"type": type_, "status": value, "lastProbeTime": stamp, "lastTransitionTime": stamp,
                    "reason": reason, "message": message}]


def _soonest(*delays: float | None) -> float | None:
    present = [d for d in delays if d is not None]
    return max(min(present), 0.0) if present else None


def _ttl(spec: JobSpec, status: Doc, now: datetime) -> tuple[bool, float | None]:
    if spec.ttl_seconds_after_finished is None:
        return False, None
    final = condition(status, "Complete") or condition(status, "Failed") or {}
    at = parse_time(status.get("completionTime")) or parse_time(final.get("lastTransitionTime")) or now
    remaining = (at + timedelta(seconds=spec.ttl_seconds_after_finished) - now).total_seconds()
    return (remaining <= 0), (None if remaining <= 0 else remaining)


def _counts(status: Doc) -> tuple[int, int]:
    succeeded, failed = _uncounted(status)
    return (status.get("succeeded") or 0) + len(succeeded), (status.get("failed") or 0) + len(failed)


def _failure(spec: JobSpec, status: Doc, active: list[Pod], now: datetime) -> tuple[str, str] | None:
    _succeeded, failed = _counts(status)
    restarts = sum(s.restart_count for p in active for s in ((p.status.container_statuses or []) if p.status else [])
                   ) if spec.restart_on_failure else 0
    if failed + restarts > spec.backoff_limit:
        return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    failed_indexes = parse_indexes(status.get("failedIndexes"), spec.completions)
    if spec.max_failed_indexes is not None and len(failed_indexes) > spec.max_failed_indexes:
        return "MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of failed indexes"
    completed = parse_indexes(status.get("completedIndexes"), spec.completions)
    if failed_indexes and spec.completions is not None and len(completed | failed_indexes) >= spec.completions \
            and not active:
        return "FailedIndexes", "Job has failed indexes"
    started = parse_time(status.get("startTime"))
    if spec.active_deadline_seconds is not None and started is not None and \
            now >= started + timedelta(seconds=spec.active_deadline_seconds):
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def _success_policy(job: Doc, status: Doc, completions: int) -> str | None:
    """kube's successPolicy (Indexed): the message of the first rule the completed indexes meet."""
    done = parse_indexes(status.get("completedIndexes"), completions)
    for i, rule in enumerate(((job.get("spec") or {}).get("successPolicy") or {}).get("rules") or []):
        wanted = parse_indexes(rule["succeededIndexes"], completions) if rule.get("succeededIndexes") else None
        have = done & wanted if wanted is not None else done
        count = rule.get("succeededCount")
        if (count is not None and len(have) >= count) or (count is None and wanted is not None and wanted <= done):
            return f"Matched rules at index {i}"
    return None


def _succeeded(spec: JobSpec, status: Doc, active: list[Pod]) -> bool:
    succeeded, _failed = _counts(status)
    if spec.indexed:
        return spec.completions is not None and \
            len(parse_indexes(status.get("completedIndexes"), spec.completions)) >= spec.completions
    if spec.completions is None:
        return succeeded > 0 and not active
    return succeeded >= spec.completions


def managed_by_other(job: Doc) -> str | None:
    """The controller named in ``spec.managedBy`` when it is not the Job controller (kube's
    managedByExternalController), else None: such a Job's pods and status are that controller's."""
    manager = (job.get("spec") or {}).get("managedBy")
    return manager if manager is not None and manager != JOB_CONTROLLER_NAME else None


def decide_external(job: Doc, now: datetime) -> Decision:
    """A Job another controller manages: no pods, no status; only a finished Job's
    ``ttlSecondsAfterFinished`` (kube's TTL-after-finished controller acts on every finished Job)."""
    status = dict(job.get("status") or {})
    decision = Decision(status)
    if is_finished(status):
        decision.delete_job, decision.requeue_after = _ttl(JobSpec.from_doc(job), status, now)
    return decision


def decide(job: Doc, status: Doc, pods: list[Pod], now: datetime) -> Decision:
    """What to do now, given the status after counting (steps 1–3) and the Job's owned pods."""
    spec = JobSpec.from_doc(job)
    active = [p for p in pods if is_active(p)]
    terminating = [p for p in pods if is_terminating(p)]
    new = dict(status)
    decision = Decision(new)
    new["ready"] = sum(1 for p in active if ready_since(p) is not None)
    new["terminating"] = len(terminating)
    if is_finished(status):
        new["active"] = len(active)
        decision.delete_job, decision.requeue_after = _ttl(spec, status, now)
        return decision
    if spec.suspend:
        return _suspend(decision, status, active, now)
    if condition(status, "Suspended") is not None:
        new["conditions"] = _with_condition(new, "Suspended", "JobResumed", "Job resumed", now, value="False")
        decision.events.append(("Normal", "Resumed", "Job resumed"))
    if not new.get("startTime"):
        new["startTime"] = rfc3339(now)
    ending = condition(new, "FailureTarget") or condition(new, "SuccessCriteriaMet")
    if ending is None:
        failure = _failure(spec, new, active, now)
        if failure is not None:
            new["conditions"] = _with_condition(new, "FailureTarget", *failure, now)
        elif spec.indexed and (matched := _success_policy(job, new, spec.completions or 0)) is not None:
            new["conditions"] = _with_condition(new, "SuccessCriteriaMet", "SuccessPolicy", matched, now)
        elif _succeeded(spec, new, active):
            new["conditions"] = _with_condition(new, "SuccessCriteriaMet", "CompletionsReached",
                                                "Reached expected number of succeeded pods", now)
        ending = condition(new, "FailureTarget") or condition(new, "SuccessCriteriaMet")
    if ending is not None:
        return _finish(decision, ending, active, terminating, now)
    if spec.indexed:
        _plan_indexed(decision, spec, new, active, terminating)
    else:
        _plan_counted(decision, spec, new, active, terminating)
    if spec.indexed:
        decision.index_failures = failures_by_index(pods)
    if spec.indexed and spec.backoff_limit_per_index is not None:
        waits = {i: _index_backoff_wait(pods, i, decision.index_failures.get(i, 0), now) for i in decision.create_indexes}
        decision.create_indexes = [i for i in decision.create_indexes if waits[i] <= 0]
        later = [w for w in waits.values() if w > 0]
        decision.requeue_after = min(later) if later else None
    elif decision.create + len(decision.create_indexes):
        wait = _backoff_wait(pods, now)
        if wait > 0:
            decision.create, decision.create_indexes = 0, []
            decision.requeue_after = wait
    new["active"] = len(active) + decision.create + len(decision.create_indexes) - len(decision.delete)
    started = parse_time(new.get("startTime"))
    if spec.active_deadline_seconds is not None and started is not None:
        left = (started + timedelta(seconds=spec.active_deadline_seconds) - now).total_seconds()
        decision.requeue_after = _soonest(decision.requeue_after, left)
    return decision


def _suspend(decision: Decision, status: Doc, active: list[Pod], now: datetime) -> Decision:
    new = decision.status
    decision.delete = sorted(active, key=lambda p: p.name)
    if condition(status, "Suspended") is None:
        new["conditions"] = _with_condition(new, "Suspended", "JobSuspended", "Job suspended", now)
        new.pop("startTime", None)  # activeDeadlineSeconds counts again from the resume
        decision.events.append(("Normal", "Suspended", "Job suspended"))
    new["active"] = 0
    return decision


def _finish(decision: Decision, ending: Doc, active: list[Pod], terminating: list[Pod], now: datetime) -> Decision:
    """SuccessCriteriaMet/FailureTarget are set: stop what runs; Complete/Failed once nothing is left."""
    new = decision.status
    succeeded = ending["type"] == "SuccessCriteriaMet"
    decision.delete = sorted(active, key=lambda p: p.name)
    decision.count_deleted = not succeeded
    new["active"] = 0
    if active or terminating:
        return decision
    final = "Complete" if succeeded else "Failed"
    new["conditions"] = _with_condition(new, final, ending.get("reason", ""), ending.get("message", ""), now)
    if succeeded:
        new["completionTime"] = rfc3339(now)
        decision.events.append(("Normal", "Completed", "Job completed"))
    else:
        decision.events.append(("Warning", ending.get("reason", "Failed"), ending.get("message", "")))
    return decision


def _plan_counted(decision: Decision, spec: JobSpec, status: Doc, active: list[Pod], terminating: list[Pod]) -> None:
    succeeded, _failed = _counts(status)
    if spec.completions is None:
        want = len(active) if succeeded > 0 else spec.parallelism  # once one succeeded, no new pods
    else:
        want = max(0, min(spec.parallelism, spec.completions - succeeded))
    busy = len(active) + (len(terminating) if spec.replace_failed_only else 0)
    if len(active) > want:
        decision.delete = sorted(active, key=lambda p: (deletion_rank(p), p.name))[:len(active) - want]
    elif busy < want:
        decision.create = want - busy


def _plan_indexed(decision: Decision, spec: JobSpec, status: Doc, active: list[Pod], terminating: list[Pod]) -> None:
    completions = spec.completions or 0
    completed = parse_indexes(status.get("completedIndexes"), completions)
    completed |= parse_indexes(status.get("failedIndexes"), completions)  # nothing more to run for these
    by_index: dict[int, list[Pod]] = {}
    extra: list[Pod] = []
    for pod in sorted(active, key=lambda p: (p.metadata.creation_timestamp or _EPOCH, p.name)):
        index = completion_index(pod)
        if index is None or index >= completions or index in completed:
            extra.append(pod)  # nothing left to do for it
        else:
            by_index.setdefault(index, []).append(pod)
    for pods in by_index.values():
        extra.extend(pods[1:])  # one pod per index
    busy = set(by_index)
    if spec.replace_failed_only:
        busy |= {i for p in terminating if (i := completion_index(p)) is not None}
    running = len(by_index)
    if running > spec.parallelism:
        surplus = sorted(by_index, reverse=True)[:running - spec.parallelism]
        extra.extend(by_index[i][0] for i in surplus)
        running = spec.parallelism
    decision.delete = extra
    room = max(0, spec.parallelism - running)
    decision.create_indexes = [i for i in range(completions) if i not in completed and i not in busy][:room]


def _index_backoff_wait(pods: list[Pod], index: int, failures: int, now: datetime) -> float:
    """backoffLimitPerIndex: the back-off counts the index's own failures, from its last one."""
    ends = [finished_at(p) for p in pods if p.phase == "Failed" and completion_index(p) == index]
    if not ends or failures <= 0:
        return 0.0
    return (max(ends) + timedelta(seconds=backoff_delay(failures)) - now).total_seconds()


def _backoff_wait(pods: list[Pod], now: datetime) -> float:
    """Seconds until the next pod may be created (kube's pod failure back-off, from the pods themselves)."""
    last_success = max((finished_at(p) for p in pods if p.phase == "Succeeded"), default=None)
    failures = [finished_at(p) for p in pods if p.phase == "Failed" and (last_success is None or
                                                                         finished_at(p) > last_success)]
    if not failures:
        return 0.0
    return (max(failures) + timedelta(seconds=backoff_delay(len(failures))) - now).total_seconds()
