"""Pure CronJob decisions (kube's ``pkg/controller/cronjob``, the v2 controller): which scheduled time is
due, whether to start a Job for it, which Jobs to stop or clean up, and the status to write.

Schedules are parsed by ``croniter`` (a maintained cron library; kube uses robfig/cron's standard
five-field parser, so six-field specs are refused by validation). Times are evaluated in
``spec.timeZone`` (IANA, through ``zoneinfo``), else in UTC. Missed schedules: only the most recent
one is started (if ``startingDeadlineSeconds`` allows), and more than 100 misses give a warning.
Plain data in and out; ``now`` comes from the caller (the controller's injected clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kubelite.api.batch_rules import schedule_error, time_zone_error
from kubelite.util import clock
from kubelite.util.humanize import parse_time

from controllers.job_plan import condition, rfc3339

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100
_REQUEUE_SLACK = 0.1  # seconds past the next schedule, so the clock has surely passed it

Doc = dict[str, Any]


@dataclass(frozen=True)
class CronSpec:
    schedule: str
    time_zone: str | None
    concurrency: str  # Allow | Forbid | Replace
    starting_deadline_seconds: int | None
    suspend: bool
    successful_history: int
    failed_history: int

    @classmethod
    def from_doc(cls, cronjob: Doc) -> CronSpec:
        spec = cronjob.get("spec") or {}
        return cls(
            schedule=spec.get("schedule") or "", time_zone=spec.get("timeZone"),
            concurrency=spec.get("concurrencyPolicy") or "Allow",
            starting_deadline_seconds=spec.get("startingDeadlineSeconds"), suspend=bool(spec.get("suspend")),
            successful_history=3 if spec.get("successfulJobsHistoryLimit") is None else spec["successfulJobsHistoryLimit"],
            failed_history=1 if spec.get("failedJobsHistoryLimit") is None else spec["failedJobsHistoryLimit"],
        )


@dataclass(frozen=True)
class Due:
    most_recent: datetime | None  # the latest scheduled time in (earliest, now], UTC
    missed: int  # how many scheduled times fell in (earliest, now] (counting stops past TOO_MANY_MISSED)
    next_time: datetime  # the first scheduled time after now, UTC


def due_times(schedule: str, zone: str | None, earliest: datetime, now: datetime) -> Due:
    """kube's mostRecentScheduleTime: the scheduled times after ``earliest`` up to ``now``."""
    from croniter import croniter  # here: with dateutil ~1.3 MB of RSS, idle without CronJobs (issue 12)

    tz = ZoneInfo(zone) if zone else UTC
    ticks = croniter(schedule, earliest.astimezone(tz))
    missed, most_recent = 0, None
    moment = ticks.get_next(datetime)
    while moment <= now and missed <= TOO_MANY_MISSED:
        most_recent, missed = moment, missed + 1
        moment = ticks.get_next(datetime)
    if moment <= now:  # past the count: jump straight to the latest one
        latest = croniter(schedule, now.astimezone(tz)).get_prev(datetime)
        after = croniter(schedule, latest).get_next(datetime)
        most_recent = after if after <= now else latest
        moment = croniter(schedule, most_recent).get_next(datetime)
    return Due(most_recent.astimezone(UTC) if most_recent else None, missed, moment.astimezone(UTC))


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """``<cronjob>-<scheduled time in minutes since the epoch>`` (kube's getJobName)."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def job_for(cronjob: Doc, scheduled: datetime) -> Doc:
    """The Job to start for ``scheduled`` from ``spec.jobTemplate`` (no owner reference: the controller adds it)."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    meta = template.get("metadata") or {}
    spec = CronSpec.from_doc(cronjob)
    tz = ZoneInfo(spec.time_zone) if spec.time_zone else UTC
    annotations = {**(meta.get("annotations") or {}),
                   SCHEDULED_TIMESTAMP: clock.format_time_in_zone(scheduled.astimezone(tz))}
    metadata: Doc = {"name": job_name(cronjob["metadata"]["name"], scheduled),
                     "namespace": cronjob["metadata"].get("namespace"), "annotations": annotations}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template.get("spec") or {}}


def job_finished(job: Doc) -> str | None:
    status = job.get("status") or {}
    if condition(status, "Complete") is not None:
        return "Complete"
    if condition(status, "Failed") is not None:
        return "Failed"
    return None


@dataclass
class CronPlan:
    status: Doc
    create: Doc | None = None  # the Job to create (then added to status.active)
    delete: list[Doc] = field(default_factory=list)  # Jobs to delete (Replace, history limits)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def _ref(job: Doc) -> Doc:
    meta = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "namespace": meta.get("namespace"),
            "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}


def decide(cronjob: Doc, children: list[Doc], now: datetime) -> CronPlan:
    """``children``: the Jobs this CronJob controls (live ones for every name in ``status.active``)."""
    spec = CronSpec.from_doc(cronjob)
    status = dict(cronjob.get("status") or {})
    result = CronPlan(status)
    by_uid = {c["metadata"].get("uid"): c for c in children}
    active = []
    for ref in status.get("active") or []:
        job = by_uid.get(ref.get("uid"))
        if job is None:
            result.events.append(("Normal", "MissingJob", f"Active job went missing: {ref.get('name')}"))
        elif (finished := job_finished(job)) is not None:
            result.events.append(("Normal", "SawCompletedJob",
                                  f"Saw completed job: {job['metadata']['name']}, condition: {finished}"))
        else:
            active.append(ref)
    known = {ref.get("uid") for ref in status.get("active") or []}
    for job in children:
        if job_finished(job) is None and job["metadata"].get("uid") not in known:
            result.events.append(("Warning", "UnexpectedJob", "Saw a job that the controller did not create or "
                                  f"forgot: {job['metadata']['name']}"))
        if job_finished(job) == "Complete":
            done = parse_time((job.get("status") or {}).get("completionTime"))
            last = parse_time(status.get("lastSuccessfulTime"))
            if done is not None and (last is None or done > last):
                status["lastSuccessfulTime"] = rfc3339(done)
    status["active"] = active
    result.delete = _over_history(spec, children)
    if cronjob["metadata"].get("deletionTimestamp") or spec.suspend:
        return result
    if spec.time_zone and time_zone_error(spec.time_zone):
        result.events.append(("Warning", "UnknownTimeZone", f"invalid timeZone: {spec.time_zone!r}"))
        return result
    if schedule_error(spec.schedule):
        result.events.append(("Warning", "UnparseableSchedule", f"unparseable schedule: {spec.schedule!r}"))
        return result
    earliest = parse_time(status.get("lastScheduleTime")) or parse_time(cronjob["metadata"].get("creationTimestamp"))
    earliest = earliest or now
    if spec.starting_deadline_seconds is not None:
        earliest = max(earliest, now - timedelta(seconds=spec.starting_deadline_seconds))
    due = due_times(spec.schedule, spec.time_zone, earliest, now)
    result.requeue_after = (due.next_time - now).total_seconds() + _REQUEUE_SLACK
    if due.missed > TOO_MANY_MISSED:
        result.events.append(("Warning", "TooManyMissedTimes", "too many missed start times. Set or decrease "
                              ".spec.startingDeadlineSeconds or check clock skew"))
    scheduled = due.most_recent
    if scheduled is None:
        return result
    if spec.starting_deadline_seconds is not None and \
            scheduled + timedelta(seconds=spec.starting_deadline_seconds) < now:
        result.events.append(("Warning", "MissSchedule", "Missed scheduled time to start a job: " + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")))
        return result
    name = job_name(cronjob["metadata"]["name"], scheduled)
    if any(r.get("name") == name for r in active) or parse_time(status.get("lastScheduleTime")) == scheduled:
        return result
    if spec.concurrency == "Forbid" and active:
        result.events.append(("Normal", "JobAlreadyActive", "Not starting job because prior execution is running "
                              "and concurrency policy is Forbid"))
        return result
    if spec.concurrency == "Replace":
        for ref in active:
            job = by_uid[ref.get("uid")]
            result.delete.append(job)
        status["active"] = []
    result.create = job_for(cronjob, scheduled)
    status["lastScheduleTime"] = rfc3339(scheduled)
    return result


def _over_history(spec: CronSpec, children: list[Doc]) -> list[Doc]:
    """Finished Jobs beyond the history limits, oldest first (kube orders by status.startTime)."""
    def started(job: Doc) -> str:
        return (job.get("status") or {}).get("startTime") or job["metadata"].get("creationTimestamp") or ""
    doomed: list[Doc] = []
    for outcome, keep in (("Complete", spec.successful_history), ("Failed", spec.failed_history)):
        done = sorted((j for j in children if job_finished(j) == outcome and not j["metadata"].get("deletionTimestamp")),
                      key=started)
        doomed += done[:max(0, len(done) - keep)]
    return doomed


def active_ref(job: Doc) -> Doc:
    """The ``status.active`` entry of a Job just created."""
    return {k: v for k, v in _ref(job).items() if v is not None}
