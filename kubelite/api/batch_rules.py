"""Job and CronJob write rules (kube's ``pkg/apis/batch/v1/defaults.go``, ``pkg/apis/batch/validation``,
``pkg/registry/batch/{job,cronjob}/strategy.go``), on the JSON documents of these stored kinds.

:mod:`kubelite.api.documents` registers them in ``DOCUMENT_RULES``; everything here is pure.

- Defaults: Job ``parallelism``/``completions`` 1 (both unset), ``backoffLimit`` 6, ``completionMode``
  NonIndexed, ``suspend`` false, ``podReplacementPolicy`` (Failed with a podFailurePolicy, else
  TerminatingOrFailed), ``manualSelector`` unset → the selector is generated from the Job's uid
  (``batch.kubernetes.io/controller-uid``) and the template gets the ``controller-uid`` / ``job-name``
  labels, both spellings. CronJob: ``concurrencyPolicy`` Allow, ``suspend`` false, history limits 3 and 1.
- Validation: counts non-negative, ``activeDeadlineSeconds`` positive, restartPolicy OnFailure/Never,
  selector matches the template, Indexed needs ``completions`` and stays within 100000 completions
  and parallelism, ``managedBy`` (JobManagedBy, beta in 1.32) is a domain-prefixed path of at most 63
  characters, cron ``schedule`` and ``timeZone`` parse, CronJob names fit 52 characters.
- Immutable: ``completionMode``, ``managedBy``; ``completions`` (an Indexed Job may change it only together with
  ``parallelism``, to the same value: elastic Indexed Jobs); selector and template.
"""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubelite.api.errors import StatusCause, quote_value
from kubelite.api.labels import dns1123_subdomain_errors

Doc = dict[str, Any]

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
INDEXED_LIMIT = 100_000  # kube's maxParallelismForIndexedJob / completionsSoftLimit
CRONJOB_NAME_LIMIT = 52  # 63 minus the 11 characters of "-<minutes>"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"  # the managedBy value (or none) that is kubelite's own
MANAGED_BY_LIMIT = 63  # kube's maxManagedByLength
_HTTP_PATH_FMT = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"  # apimachinery's httpPathFmt


def _invalid(path: str, value: Any, detail: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueInvalid", message=f"Invalid value: {quote_value(value)}: {detail}")


def _required(path: str, detail: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueRequired", message=f"Required value: {detail}")


# -- defaults -----------------------------------------------------------------------------------

def _default_job_spec(spec: Doc) -> Doc:
    spec = dict(spec)
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    return spec


def prepare_job(doc: Doc) -> Doc:
    doc = dict(doc)
    spec = _default_job_spec(doc.get("spec") or {})
    meta = doc.get("metadata") or {}
    uid = meta.get("uid")
    if uid and spec.get("manualSelector") is not True:
        template = dict(spec.get("template") or {})
        tmeta = dict(template.get("metadata") or {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), CONTROLLER_UID: uid, LEGACY_CONTROLLER_UID: uid,
                           JOB_NAME: meta.get("name", ""), LEGACY_JOB_NAME: meta.get("name", "")}
        template["metadata"] = tmeta
        spec["template"] = template
        spec.setdefault("selector", {"matchLabels": {CONTROLLER_UID: uid}})
    doc["spec"] = spec
    return doc


def prepare_cronjob(doc: Doc) -> Doc:
    doc = dict(doc)
    spec = dict(doc.get("spec") or {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = dict(spec.get("jobTemplate") or {})
    template["spec"] = _default_job_spec(template.get("spec") or {})
    spec["jobTemplate"] = template
    doc["spec"] = spec
    return doc


# -- validation ---------------------------------------------------------------------------------

def _non_negative(spec: Doc, path: str, *fields: str) -> list[StatusCause]:
    return [_invalid(f"{path}.{f}", spec[f], "must be greater than or equal to 0")
            for f in fields if isinstance(spec.get(f), int) and spec[f] < 0]


def _selector_matches(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and present and labels[key] in values) \
                or (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def managed_by_errors(value: str, path: str) -> list[StatusCause]:
    """kube's validateManagedBy: at most 63 bytes, and IsDomainPrefixedPath (``acme.io/foo``)."""
    causes = []
    if len(value.encode()) > MANAGED_BY_LIMIT:
        causes.append(StatusCause(field=path, reason="FieldValueTooLong",
                                  message=f"Too long: may not be more than {MANAGED_BY_LIMIT} bytes"))
    if not value:
        return [*causes, _required(path, "")]
    host, slash, rest = value.partition("/")
    if not slash or not host or not rest:
        return [*causes, _invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    causes += [_invalid(path, host, e) for e in dns1123_subdomain_errors(host)]
    if not re.fullmatch(_HTTP_PATH_FMT, rest):
        causes.append(_invalid(path, rest, f"Invalid path (regex used for validation is '{_HTTP_PATH_FMT}')"))
    return causes


def validate_job_spec(spec: Doc, path: str, *, uid: str | None = None, in_template: bool = False) -> list[StatusCause]:
    causes = _non_negative(spec, path, "parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished",
                           "backoffLimitPerIndex", "maxFailedIndexes")
    managed_by = spec.get("managedBy")
    if isinstance(managed_by, str):
        causes += managed_by_errors(managed_by, f"{path}.managedBy")
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= 0:
        causes.append(_invalid(f"{path}.activeDeadlineSeconds", deadline, "must be greater than 0"))
    mode = spec.get("completionMode")
    if mode not in (None, "NonIndexed", "Indexed"):
        causes.append(StatusCause(field=f"{path}.completionMode", reason="FieldValueNotSupported",
                                  message=f'Unsupported value: {quote_value(mode)}: supported values: "NonIndexed", "Indexed"'))
    for name in ("backoffLimitPerIndex", "maxFailedIndexes"):
        if spec.get(name) is not None and mode != "Indexed":
            causes.append(_invalid(f"{path}.{name}", spec[name], "requires indexed completion mode"))
    if spec.get("successPolicy") is not None and mode != "Indexed":
        causes.append(_invalid(f"{path}.successPolicy", "", "requires indexed completion mode"))
    for i, rule in enumerate((spec.get("successPolicy") or {}).get("rules") or []):
        if rule.get("succeededIndexes") is None and rule.get("succeededCount") is None:
            causes.append(_required(f"{path}.successPolicy.rules[{i}]",
                                    "at least one of succeededCount or succeededIndexes must be specified"))
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        causes.append(_required(f"{path}.backoffLimitPerIndex", "when maxFailedIndexes is specified"))
    if mode == "Indexed":
        if spec.get("completions") is None:
            causes.append(_required(f"{path}.completions", "when completion mode is Indexed"))
        for name in ("completions", "parallelism"):
            value = spec.get(name)
            if isinstance(value, int) and value > INDEXED_LIMIT:
                causes.append(_invalid(f"{path}.{name}", value,
                                       f"must be less than or equal to {INDEXED_LIMIT} when completion mode is Indexed"))
    template = spec.get("template") or {}
    restart = (template.get("spec") or {}).get("restartPolicy")
    restart_path = f"{path}.template.spec.restartPolicy"
    if restart is None:
        causes.append(_required(restart_path, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        causes.append(StatusCause(field=restart_path, reason="FieldValueNotSupported",
                                  message=f'Unsupported value: {quote_value(restart)}: supported values: "OnFailure", "Never"'))
    elif spec.get("podFailurePolicy") and restart != "Never":
        causes.append(_invalid(restart_path, restart, 'only "Never" is supported when podFailurePolicy is specified'))
    causes += _failure_policy_causes(spec.get("podFailurePolicy"), f"{path}.podFailurePolicy",
                                     per_index=spec.get("backoffLimitPerIndex") is not None)
    auto = spec.get("manualSelector") is not True
    if in_template or (auto and not uid):
        return causes  # the selector is generated from the uid the store assigns; checked again then
    selector = spec.get("selector")
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is None:
        causes.append(_required(f"{path}.selector", ""))
    elif auto and selector != {"matchLabels": {CONTROLLER_UID: uid}}:
        causes.append(_invalid(f"{path}.selector", json.dumps(selector, separators=(",", ":")),
                               "`selector` not auto-generated"))
    elif not _selector_matches(selector, labels):
        causes.append(_invalid(f"{path}.template.metadata.labels", json.dumps(labels, separators=(",", ":")),
                               "`selector` does not match template `labels`"))
    return causes


def _failure_policy_causes(policy: Doc | None, path: str, *, per_index: bool) -> list[StatusCause]:
    causes: list[StatusCause] = []
    for i, rule in enumerate((policy or {}).get("rules") or []):
        at = f"{path}.rules[{i}]"
        if rule.get("action") == "FailIndex" and not per_index:
            causes.append(_invalid(f"{at}.action", "FailIndex", "requires the backoffLimitPerIndex to be set"))
        if rule.get("action") not in ("FailJob", "FailIndex", "Ignore", "Count"):
            causes.append(StatusCause(field=f"{at}.action", reason="FieldValueNotSupported", message=(
                f'Unsupported value: {quote_value(rule.get("action"))}: supported values: "Count", "FailIndex", '
                '"FailJob", "Ignore"')))
        if bool(rule.get("onExitCodes")) == bool(rule.get("onPodConditions")):
            causes.append(_invalid(at, "", "specifying one of OnExitCodes and OnPodConditions is required"))
        codes = rule.get("onExitCodes") or {}
        if codes and codes.get("operator") not in ("In", "NotIn"):
            causes.append(StatusCause(field=f"{at}.onExitCodes.operator", reason="FieldValueNotSupported",
                                      message=f'Unsupported value: {quote_value(codes.get("operator"))}: '
                                      'supported values: "In", "NotIn"'))
        if codes and not codes.get("values"):
            causes.append(_invalid(f"{at}.onExitCodes.values", "[]", "at least one value is required"))
    return causes


def validate_job(doc: Doc) -> list[StatusCause]:
    return validate_job_spec(doc.get("spec") or {}, "spec", uid=(doc.get("metadata") or {}).get("uid"))


def validate_cronjob(doc: Doc) -> list[StatusCause]:
    spec = doc.get("spec") or {}
    causes: list[StatusCause] = []
    name = (doc.get("metadata") or {}).get("name") or ""
    if len(name) > CRONJOB_NAME_LIMIT:
        causes.append(_invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_LIMIT} characters"))
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(_required("spec.schedule", ""))
    elif (problem := schedule_error(schedule)) is not None:
        causes.append(_invalid("spec.schedule", schedule, problem))
    zone = spec.get("timeZone")
    if zone is not None and (problem := time_zone_error(zone)) is not None:
        causes.append(_invalid("spec.timeZone", zone, problem))
    policy = spec.get("concurrencyPolicy")
    if policy not in (None, "Allow", "Forbid", "Replace"):
        causes.append(StatusCause(field="spec.concurrencyPolicy", reason="FieldValueNotSupported",
                                  message=f'Unsupported value: {quote_value(policy)}: supported values: '
                                  '"Allow", "Forbid", "Replace"'))
    causes += _non_negative(spec, "spec", "startingDeadlineSeconds", "successfulJobsHistoryLimit",
                            "failedJobsHistoryLimit")
    template = spec.get("jobTemplate") or {}
    causes += validate_job_spec(template.get("spec") or {}, "spec.jobTemplate.spec", in_template=True)
    return causes


def schedule_error(schedule: str) -> str | None:
    """Why kube's standard cron parser (five fields or a @descriptor) would refuse ``schedule``."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if not text.startswith("@") and len(text.split()) != 5:
        return f"expected exactly 5 fields, found {len(text.split())}: {text.split()}"
    from croniter import croniter  # here: with dateutil ~1.3 MB of RSS, only for a CronJob's write (issue 12)

    if not croniter.is_valid(text):
        return "unparseable schedule"
    return None


def time_zone_error(name: str) -> str | None:
    if not name or name.strip() != name or name.lower() == "local":
        return "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name}"
    return None


# -- immutable ----------------------------------------------------------------------------------

def job_immutable(old: Doc, new: Doc) -> list[StatusCause]:
    before, after = old.get("spec") or {}, new.get("spec") or {}
    causes = [_invalid(f"spec.{f}", after.get(f), "field is immutable")
              for f in ("selector", "template", "completionMode", "managedBy") if after.get(f) != before.get(f)]
    if after.get("completions") != before.get("completions"):
        if after.get("completionMode") != "Indexed":
            causes.append(_invalid("spec.completions", after.get("completions"), "field is immutable"))
        elif after.get("completions") != after.get("parallelism"):
            causes.append(_invalid("spec.completions", after.get("completions"),
                                   "can only be modified in tandem with spec.parallelism"))
    return causes
