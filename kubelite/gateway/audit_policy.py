"""Audit policy (``audit.k8s.io/v1`` Policy): load, validate and evaluate, pure.

Kubernetes' semantics (k8s.io/apiserver ``pkg/audit/policy/checker.go``, ``reader.go`` and
``pkg/apis/audit/validation``): rules are tried in order and the first that matches a request
gives its level (None, Metadata, Request, RequestResponse) and the stages to omit (the rule's and
the policy's); no rule matching means None. A rule matches when each of its non-empty lists does:
``users`` (the user's name), ``userGroups`` (any of its groups), ``verbs``; then ``namespaces`` /
``resources`` (only resource requests; ``""`` is a cluster-scoped object; a resource entry matches
``*``, ``pods``, ``pods/log``, ``*/status`` or ``pods/*``, in its ``group`` or any with ``*``,
narrowed by ``resourceNames``) or ``nonResourceURLs`` (only other paths; ``*`` or a trailing ``*``
prefix). A request that failed authentication has no user: rules naming users or groups skip it.

Loading follows kube's reader: YAML or JSON, ``apiVersion: audit.k8s.io/v1`` and ``kind: Policy``
required, unknown fields tolerated with a warning (kube falls back to lenient decoding), field
errors collected as ``rules[0].level: Required value``, and a policy without rules refused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubelite.auth.rbac import Attributes

API_VERSION = "audit.k8s.io/v1"
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_RULE_FIELDS = {"level", "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs", "omitStages",
                "omitManagedFields"}
_POLICY_FIELDS = {"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"}
_RESOURCE_FIELDS = {"group", "resources", "resourceNames"}


class Level(enum.IntEnum):
    """Ordered as kube's ``Level.Less``: each level records what the one before it does, and more."""

    NONE = 0
    METADATA = 1
    REQUEST = 2
    REQUEST_RESPONSE = 3

    @property
    def wire(self) -> str:
        return ("None", "Metadata", "Request", "RequestResponse")[self]

    @classmethod
    def parse(cls, value: str) -> Level:
        return {"None": cls.NONE, "Metadata": cls.METADATA, "Request": cls.REQUEST,
                "RequestResponse": cls.REQUEST_RESPONSE}[value]


class PolicyError(ValueError):
    """The policy file is unusable; the message is one line naming the field(s)."""


@dataclass(frozen=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    level: Level
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool | None = None


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False


@dataclass(frozen=True)
class Decision:
    """What to record of one request (kube's RequestAuditConfig)."""

    level: Level
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False


# Without --audit-policy-file: every write at Metadata (who, what, when, the answer; never a body, so
# Secrets' contents stay out of the log), nothing else, and no RequestReceived event (as most policies).
DEFAULT_POLICY = Policy(rules=(Rule(Level.METADATA, verbs=WRITE_VERBS),), omit_stages=frozenset({"RequestReceived"}))


# -- evaluation (checker.go) --------------------------------------------------------------------

def evaluate(policy: Policy, attrs: Attributes, *, authenticated: bool = True) -> Decision:
    """The level and omitted stages for a request; ``authenticated`` False: it has no user."""
    for rule in policy.rules:
        if rule_matches(rule, attrs, authenticated=authenticated):
            omit_managed = policy.omit_managed_fields if rule.omit_managed_fields is None else rule.omit_managed_fields
            return Decision(rule.level, policy.omit_stages | rule.omit_stages, omit_managed)
    return Decision(Level.NONE, policy.omit_stages, policy.omit_managed_fields)


def rule_matches(rule: Rule, attrs: Attributes, *, authenticated: bool = True) -> bool:
    if rule.users and (not authenticated or attrs.user not in rule.users):
        return False
    if rule.user_groups and (not authenticated or not any(g in rule.user_groups for g in attrs.groups)):
        return False
    if rule.verbs and attrs.verb not in rule.verbs:
        return False
    if rule.namespaces or rule.resources:
        return _matches_resource(rule, attrs)
    if rule.non_resource_urls:
        return not attrs.resource_request and any(_path_matches(attrs.path, spec) for spec in rule.non_resource_urls)
    return True


def _path_matches(path: str, spec: str) -> bool:
    return spec == "*" or spec == path or (spec.endswith("*") and path.startswith(spec.rstrip("*")))


def _matches_resource(rule: Rule, attrs: Attributes) -> bool:
    if not attrs.resource_request:
        return False
    if rule.namespaces and attrs.namespace not in rule.namespaces:
        return False
    if not rule.resources:
        return True
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for gr in rule.resources:
        if gr.group not in (attrs.api_group, "*"):
            continue
        if not gr.resources:
            return True
        if gr.resource_names and attrs.name not in gr.resource_names:
            continue
        for res in gr.resources:
            if res in (combined, "*"):
                return True
            if attrs.subresource and res.startswith("*/") and attrs.subresource == res[2:]:
                return True
            if res.endswith("/*") and attrs.resource == res[:-2]:
                return True
    return False


# -- loading and validation (reader.go, validation.go) ------------------------------------------

def load_policy_file(path: str | Path) -> tuple[Policy, list[str]]:
    """(policy, warnings) from a YAML or JSON file; PolicyError (one line) or OSError otherwise."""
    text = Path(path).read_text()
    return load_policy(text)


def load_policy(text: str) -> tuple[Policy, list[str]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"failed decoding: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise PolicyError("failed decoding: the policy must be an object with apiVersion, kind and rules")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Policy":
        raise PolicyError(f"unknown group version field {doc.get('apiVersion')!r}, kind {doc.get('kind')!r} in "
                          f"policy: want apiVersion {API_VERSION}, kind Policy")
    warnings = [f"unknown field \"{k}\"" for k in doc if k not in _POLICY_FIELDS]
    problems: list[str] = []
    omit = _stages(doc.get("omitStages"), "omitStages", problems)
    omit_managed = _bool(doc.get("omitManagedFields"), "omitManagedFields", problems)
    raw_rules = doc.get("rules")
    if raw_rules is not None and not isinstance(raw_rules, list):
        problems.append("rules: Invalid value: must be a list")
        raw_rules = []
    rules = []
    for index, raw in enumerate(raw_rules or []):
        rule = _rule(raw, f"rules[{index}]", problems, warnings)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise PolicyError(", ".join(problems) if len(problems) == 1 else "[" + ", ".join(problems) + "]")
    if not rules:
        raise PolicyError("loaded illegal policy with 0 rules")
    return Policy(tuple(rules), omit, bool(omit_managed)), warnings


def _strings(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: Invalid value: must be a list of strings")
        return ()
    return tuple(value)


def _bool(value: Any, where: str, problems: list[str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    problems.append(f"{where}: Invalid value: {value!r}: must be true or false")
    return None


def _stages(value: Any, where: str, problems: list[str]) -> frozenset[str]:
    stages = _strings(value, where, problems)
    for index, stage in enumerate(stages):
        if stage not in STAGES:
            problems.append(f'{where}[{index}]: Invalid value: "{stage}": allowed stages are {",".join(STAGES)}')
    return frozenset(stages)


def _rule(raw: Any, where: str, problems: list[str], warnings: list[str]) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: Invalid value: must be an object")
        return None
    warnings += [f'unknown field "{where}.{k}"' for k in raw if k not in _RULE_FIELDS]
    level_text = raw.get("level")
    level = Level.NONE
    if level_text in (None, ""):
        problems.append(f"{where}.level: Required value")
    elif not isinstance(level_text, str) or level_text not in ("None", "Metadata", "Request", "RequestResponse"):
        problems.append(f'{where}.level: Unsupported value: "{level_text}": supported values: "None", "Metadata", '
                        f'"Request", "RequestResponse"')
    else:
        level = Level.parse(level_text)
    urls = _strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs", problems)
    for index, url in enumerate(urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            problems.append(f'{where}.nonResourceURLs[{index}]: Invalid value: "{url}": non-resource URL rules must '
                            f"begin with a '/' character")
        if url and "*" in url[:-1]:
            problems.append(f'{where}.nonResourceURLs[{index}]: Invalid value: "{url}": non-resource URL wildcards '
                            f"'*' must be the final character of the rule")
    resources = _group_resources(raw.get("resources"), f"{where}.resources", problems, warnings)
    namespaces = _strings(raw.get("namespaces"), f"{where}.namespaces", problems)
    if urls and (resources or namespaces):
        problems.append(f"{where}.nonResourceURLs: Invalid value: rules cannot apply to both regular resources and "
                        f"non-resource URLs")
    return Rule(level=level, users=_strings(raw.get("users"), f"{where}.users", problems),
                user_groups=_strings(raw.get("userGroups"), f"{where}.userGroups", problems),
                verbs=_strings(raw.get("verbs"), f"{where}.verbs", problems), resources=resources,
                namespaces=namespaces, non_resource_urls=urls,
                omit_stages=_stages(raw.get("omitStages"), f"{where}.omitStages", problems),
                omit_managed_fields=_bool(raw.get("omitManagedFields"), f"{where}.omitManagedFields", problems))


def _group_resources(value: Any, where: str, problems: list[str],
                     warnings: list[str]) -> tuple[GroupResources, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(f"{where}: Invalid value: must be a list")
        return ()
    found = []
    for raw in value:
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: Invalid value: each entry must be an object")
            continue
        warnings += [f'unknown field "{where}.{k}"' for k in raw if k not in _RESOURCE_FIELDS]
        group = raw.get("group") or ""
        if not isinstance(group, str):
            problems.append(f"{where}.group: Invalid value: must be a string")
            group = ""
        elif group not in ("", "*") and (len(group) > 253 or not _DNS_SUBDOMAIN.match(group)):
            problems.append(f'{where}.group: Invalid value: "{group}": a lowercase RFC 1123 subdomain must consist '
                            f"of lower case alphanumeric characters, '-' or '.'")
        names = _strings(raw.get("resourceNames"), f"{where}.resourceNames", problems)
        plurals = _strings(raw.get("resources"), f"{where}.resources", problems)
        if names and not plurals:
            problems.append(f"{where}.resourceNames: Invalid value: using resourceNames requires at least one resource")
        found.append(GroupResources(group, plurals, names))
    return tuple(found)

