"""Query parameters of API requests, parsed and checked (400 on nonsense), and list filters.

Pure: list/watch options, the label+field selector predicate on an object's
JSON, delete options (query or body), dryRun and fieldValidation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.api import errors
from kubelite.api.labels import (
    EQUALS,
    EXISTS,
    GT,
    IN,
    LT,
    FieldRequirement,
    Selector,
    parse_field_selector,
    parse_selector,
)
from kubelite.api.schema import INT_RANGES, type_causes
from kubelite.etcd.encryption import ENCRYPTED_PREFIX
from kubelite.gateway.catalog import Served

# kube's field labels that are not a plain JSON path
_FIELD_ALIASES = {"source": "source.component"}
FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


@dataclass(frozen=True)
class ListOptions:
    label_selector: Selector | None = None
    field_selector: tuple[FieldRequirement, ...] = ()
    limit: int = 0
    continue_token: str | None = None
    resource_version: str = ""
    resource_version_match: str = ""
    timeout_seconds: int | None = None
    allow_bookmarks: bool = False
    send_initial_events: bool = False

    def raw_filter(self, *, converted: bool = False) -> Callable[[bytes], bool] | None:
        """A necessary condition on an object's stored bytes, so that a selected list skips the objects
        that cannot match before decoding them (:func:`stored_patterns`); None when the selectors give
        none. ``converted``: the kind is stored in another version's shape (only labels are then used)."""
        alternatives = stored_patterns(self.label_selector, () if converted else self.field_selector)
        if not alternatives:
            return None

        # one compiled alternation per requirement: a single C search per object and requirement (the
        # per-pattern ``in`` under generator expressions was a third of a selected LIST's CPU)
        searches = [re.compile(b"|".join(re.escape(p) for p in patterns)).search for patterns in alternatives]

        def keep(raw: bytes) -> bool:
            if raw.startswith(ENCRYPTED_PREFIX):  # judged once decrypted and decoded
                return True
            for search in searches:
                if search(raw) is None:
                    return False
            return True
        return keep

    def matches(self, doc: Mapping[str, Any]) -> bool:
        if self.label_selector is not None:
            labels = (doc.get("metadata") or {}).get("labels") or {}
            if not self.label_selector.matches(labels):
                return False
        return all(r.matches(doc) for r in self.field_selector)

    @property
    def filters(self) -> bool:
        return self.label_selector is not None or bool(self.field_selector)


# field selector paths whose value is stored as the field itself (not computed or converted on read)
_STORED_FIELDS = frozenset({"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase",
                            "spec.schedulerName", "spec.serviceAccountName"})


def _pairs(key: str, value: str | None) -> tuple[bytes, ...]:
    """The ways ``"key": value`` can appear in stored JSON: compact (orjson, kubelite's codec) or spaced
    (json.dumps' default, older data); a string value quoted, a boolean or number bare."""
    k = json.dumps(key, ensure_ascii=False)
    if value is None:
        return tuple(f"{k}{sep}".encode() for sep in (":", ": "))
    quoted = json.dumps(value, ensure_ascii=False)
    return tuple(f"{k}{sep}{v}".encode() for sep in (":", ": ") for v in (quoted, value))


def stored_patterns(labels: Selector | None,
                    fields: tuple[FieldRequirement, ...]) -> list[tuple[bytes, ...]]:
    """For each requirement that needs something present, the byte strings one of which a matching
    object's stored JSON must contain (a conjunction of disjunctions). Requirements satisfied by an
    absence (``!=``, ``notin``, ``!key``, an empty field value) give nothing."""
    alternatives: list[tuple[bytes, ...]] = []
    if labels is not None and not labels.nothing:
        for requirement in labels.requirements:
            if requirement.operator in (EQUALS, IN):
                alternatives.append(tuple(p for v in requirement.values for p in _pairs(requirement.key, v)))
            elif requirement.operator in (EXISTS, GT, LT):
                alternatives.append(_pairs(requirement.key, None))
    for field in fields:
        if field.negated or not field.value or field.path not in _STORED_FIELDS:
            continue
        alternatives.append(_pairs(field.path.rsplit(".", 1)[-1], field.value))
    return alternatives


def _bool(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return False
    if value.lower() in ("1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise errors.bad_request(f"invalid value {value!r} for {name}: must be a boolean")


_INT64_MAX = 2**63 - 1


def _int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f"invalid value {value!r} for {name}: must be an integer") from None
    low, high = INT_RANGES["int64"]  # kube decodes these parameters into int64
    if not low <= number <= high:
        raise errors.bad_request(f"invalid value {value!r} for {name}: value out of range (int64)")
    if number < 0 and name == "gracePeriodSeconds":
        return number
    if number < 0:
        raise errors.bad_request(f"invalid value {value!r} for {name}: must not be negative")
    if number > _INT64_MAX:  # Kubernetes' query parameters are int64: out of range is a parse error
        raise errors.bad_request(f"invalid value {value!r} for {name}: value out of range")
    return number


def parse_list_options(query: Mapping[str, str], served: Served, *, name: str | None = None) -> ListOptions:
    label_selector = None
    if query.get("labelSelector"):
        try:
            label_selector = parse_selector(query["labelSelector"])
        except ValueError as exc:
            raise errors.bad_request(f"unable to parse requirement: {exc}") from exc
    fields: list[FieldRequirement] = []
    if query.get("fieldSelector"):
        try:
            parsed = parse_field_selector(query["fieldSelector"])
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from exc
        for req in parsed:
            if req.path not in served.selectable_fields:
                raise errors.bad_request(
                    f'field label not supported: {req.path} (for {served.resource.plural}: '
                    f'{", ".join(served.selectable_fields)})'
                )
            fields.append(FieldRequirement(_FIELD_ALIASES.get(req.path, req.path), req.value, req.negated))
    if name is not None:
        fields.append(FieldRequirement("metadata.name", name))
    rv_match = query.get("resourceVersionMatch", "")
    if rv_match not in ("", "Exact", "NotOlderThan"):
        raise errors.bad_request(f"invalid resourceVersionMatch {rv_match!r}: must be Exact or NotOlderThan")
    resource_version = query.get("resourceVersion", "")
    if resource_version and not resource_version.isdigit():
        raise errors.bad_request(f"invalid resourceVersion {resource_version!r}: must be a number")
    if rv_match and not resource_version:
        raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    return ListOptions(
        label_selector=label_selector, field_selector=tuple(fields), limit=_int(query, "limit") or 0,
        continue_token=query.get("continue") or None, resource_version=resource_version,
        resource_version_match=rv_match, timeout_seconds=_int(query, "timeoutSeconds"),
        allow_bookmarks=_bool(query, "allowWatchBookmarks"), send_initial_events=_bool(query, "sendInitialEvents"),
    )


def dry_run(query: Mapping[str, str], body: Mapping[str, Any] | None = None) -> bool:
    values = [v for k, v in _multi(query, "dryRun")]
    if body and isinstance(body.get("dryRun"), list):
        values += [str(v) for v in body["dryRun"]]
    for value in values:
        if value != "All":
            raise errors.bad_request(f'invalid dryRun value {value!r}: only "All" is supported')
    return bool(values)


def _multi(query: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    getall = getattr(query, "getall", None)
    if getall is not None:
        return [(name, v) for v in getall(name, [])]
    return [(name, query[name])] if name in query else []


def field_validation(query: Mapping[str, str]) -> str:
    """Kubernetes' default is Warn."""
    value = query.get("fieldValidation") or "Warn"
    if value not in FIELD_VALIDATION:
        raise errors.bad_request(f"invalid fieldValidation {value!r}: must be one of {', '.join(FIELD_VALIDATION)}")
    return value


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    resource_version: str | None = None
    uid: str | None = None
    dry_run: bool = False


_POLICIES = ("Orphan", "Background", "Foreground")


def parse_delete_options(query: Mapping[str, str], body: Mapping[str, Any] | None) -> DeleteOptions:
    body = body or {}
    if not isinstance(body, Mapping):
        raise errors.bad_request("DeleteOptions must be a JSON object")
    undecodable = type_causes(body, "DeleteOptions")
    if undecodable:
        raise errors.bad_request(f"DeleteOptions cannot be decoded: {undecodable[0].field}: {undecodable[0].message}")
    grace = body.get("gracePeriodSeconds")
    if grace is None and query.get("gracePeriodSeconds") not in (None, ""):
        grace = _int(query, "gracePeriodSeconds")
    if grace is not None and grace < 0:
        grace = 1  # kube-apiserver's BeforeDelete: a negative grace period is taken as 1 second
    policy = body.get("propagationPolicy") or query.get("propagationPolicy") or None
    orphan = body.get("orphanDependents")
    if orphan is None and query.get("orphanDependents"):
        orphan = _bool(query, "orphanDependents")
    if policy is None and orphan is not None:
        policy = "Orphan" if orphan else "Background"
    if policy is not None and policy not in _POLICIES:
        raise errors.bad_request(f"invalid propagationPolicy {policy!r}: must be one of {', '.join(_POLICIES)}")
    preconditions = body.get("preconditions") or {}
    if not isinstance(preconditions, Mapping):
        raise errors.bad_request("preconditions must be an object")
    return DeleteOptions(
        grace_period_seconds=grace, propagation_policy=policy,
        resource_version=preconditions.get("resourceVersion"), uid=preconditions.get("uid"),
        dry_run=dry_run(query, body),
    )


Predicate = Callable[[Mapping[str, Any]], bool]
