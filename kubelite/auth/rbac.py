"""RBAC decisions, pure: does a policy (Roles, ClusterRoles, bindings) allow a request?

Kubernetes' semantics (``plugin/pkg/auth/authorizer/rbac`` and
``pkg/apis/rbac/v1/evaluation_helpers.go``): a request is allowed when any
binding whose subjects include the user (by name, by one of its groups, or as
a ServiceAccount ``system:serviceaccount:<ns>:<name>``) refers to a role with a
rule matching it. ClusterRoleBindings apply everywhere; RoleBindings only in
their namespace (to a Role of that namespace or to a ClusterRole). Members of
``system:masters`` are allowed everything, as kube-apiserver's privileged group.
A ClusterRole with an ``aggregationRule`` holds, besides its own rules, those of
every ClusterRole whose labels match one of its selectors (kube's
clusterrole-aggregation controller writes them into ``rules``; kubelite
evaluates them in place, so ``kubectl get clusterrole admin`` shows only the
role's own rules).

Escalation prevention (``pkg/registry/rbac/escalation_check.go``): a user may
write a role, or bind one, only if their own rules already cover every rule of
it — unless they may ``escalate`` (roles) or ``bind`` (bindings) it.

Documents are plain dicts as stored (``rules``, ``subjects``, ``roleRef``...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SUPERUSER_GROUP = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"

Doc = Mapping[str, Any]


@dataclass(frozen=True)
class Attributes:
    """One request, as kube's authorizer.Attributes. ``namespace`` "" for cluster scope;
    ``resource_request`` False for non-resource paths (then only ``path`` and ``verb`` count)."""

    user: str
    groups: tuple[str, ...] = ()
    verb: str = "get"
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    resource_request: bool = True
    path: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


@dataclass
class Policy:
    """Every RBAC object the authorizer sees: ``roles[(ns, name)]``, ``cluster_roles[name]``,
    the bindings as lists of documents."""

    roles: dict[tuple[str, str], Doc] = field(default_factory=dict)
    cluster_roles: dict[str, Doc] = field(default_factory=dict)
    role_bindings: list[Doc] = field(default_factory=list)
    cluster_role_bindings: list[Doc] = field(default_factory=list)
    # a ClusterRole's effective rules (aggregation resolved), memoised: a Policy is rebuilt, never mutated
    aggregated: dict[str, list[Doc]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, docs: Iterable[Doc]) -> Policy:
        policy = cls()
        for doc in docs:
            meta = doc.get("metadata") or {}
            kind = doc.get("kind")
            if kind == "Role":
                policy.roles[(meta.get("namespace") or "", meta.get("name") or "")] = doc
            elif kind == "ClusterRole":
                policy.cluster_roles[meta.get("name") or ""] = doc
            elif kind == "RoleBinding":
                policy.role_bindings.append(doc)
            elif kind == "ClusterRoleBinding":
                policy.cluster_role_bindings.append(doc)
        return policy


# -- rule matching (evaluation_helpers.go) ------------------------------------------

def _has(values: Iterable[str] | None, wanted: str) -> bool:
    items = list(values or [])
    return "*" in items or wanted in items


def resource_matches(rule_resources: Iterable[str] | None, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for ruled in rule_resources or []:
        if ruled in ("*", combined):
            return True
        if subresource and ruled == f"*/{subresource}":
            return True
    return False


def non_resource_url_matches(rule_urls: Iterable[str] | None, path: str) -> bool:
    for ruled in rule_urls or []:
        if ruled == "*" or ruled == path or (ruled.endswith("*") and path.startswith(ruled[:-1])):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Doc) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule.get("nonResourceURLs"), attrs.path)
    names = rule.get("resourceNames") or []
    return (_has(rule.get("apiGroups"), attrs.api_group)
            and resource_matches(rule.get("resources"), attrs.resource, attrs.subresource)
            and (not names or attrs.name in names))


# -- subjects and roles --------------------------------------------------------------

def applies_to(subject: Doc, user: str, groups: Iterable[str], binding_namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name") or ""
    if kind == "User":
        return user == name
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user == f"{SA_PREFIX}{namespace}:{name}"
    return False


def _labels_match(selector: Doc, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty selector matches nothing here,
    as the aggregation controller skips it."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op or "", False)
        if not ok:
            return False
    return True


def cluster_role_rules(policy: Policy, name: str, _seen: frozenset[str] = frozenset()) -> list[Doc]:
    """A ClusterRole's rules, with those of the ClusterRoles its aggregationRule selects — transitively,
    as the aggregation controller's writes compose (admin aggregates edit, which aggregates view)."""
    role = policy.cluster_roles.get(name)
    if role is None or name in _seen:
        return []
    rules = list(role.get("rules") or [])
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    if selectors:
        seen = _seen | {name}
        for other_name, other in sorted(policy.cluster_roles.items()):
            if other_name in seen:
                continue
            labels = (other.get("metadata") or {}).get("labels") or {}
            if any(_labels_match(s, labels) for s in selectors):
                rules.extend(cluster_role_rules(policy, other_name, seen))
    return rules


def _role_ref_rules(policy: Policy, ref: Doc, namespace: str) -> list[Doc]:
    if ref.get("kind") == "ClusterRole":
        name = ref.get("name") or ""
        if name not in policy.aggregated:
            policy.aggregated[name] = cluster_role_rules(policy, name)
        return policy.aggregated[name]
    if ref.get("kind") == "Role" and namespace:
        role = policy.roles.get((namespace, ref.get("name") or ""))
        return list(role.get("rules") or []) if role else []
    return []


def rules_for(policy: Policy, user: str, groups: Iterable[str], namespace: str) -> Iterator[tuple[str, Doc]]:
    """(binding description, rule) for every rule that applies to the user in ``namespace``
    ("" : cluster scope only), cluster-wide bindings first."""
    group_list = list(groups)
    for binding in policy.cluster_role_bindings:
        if any(applies_to(s, user, group_list, "") for s in binding.get("subjects") or []):
            ref = binding.get("roleRef") or {}
            what = f'ClusterRoleBinding "{(binding.get("metadata") or {}).get("name")}" of ClusterRole "{ref.get("name")}"'
            for rule in _role_ref_rules(policy, ref, ""):
                yield what, rule
    if not namespace:
        return
    for binding in policy.role_bindings:
        meta = binding.get("metadata") or {}
        if meta.get("namespace") != namespace:
            continue
        if any(applies_to(s, user, group_list, namespace) for s in binding.get("subjects") or []):
            ref = binding.get("roleRef") or {}
            what = f'RoleBinding "{meta.get("name")}/{namespace}" of {ref.get("kind")} "{ref.get("name")}"'
            for rule in _role_ref_rules(policy, ref, namespace):
                yield what, rule


def authorize(policy: Policy, attrs: Attributes) -> Decision:
    """Allowed with the binding that allows it as reason, or denied (reason "")."""
    if SUPERUSER_GROUP in attrs.groups:
        return Decision(True, f"member of {SUPERUSER_GROUP}")
    namespace = attrs.namespace if attrs.resource_request else ""
    for what, rule in rules_for(policy, attrs.user, attrs.groups, namespace):
        if rule_allows(attrs, rule):
            return Decision(True, f"RBAC: allowed by {what}")
    return Decision(False)


def forbidden_message(attrs: Attributes) -> str:
    """kube-apiserver's 403 message (``k8s.io/apiserver/pkg/endpoints/handlers/responsewriters``)."""
    if not attrs.resource_request:
        return f'forbidden: User "{attrs.user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    head = f'{resource} "{attrs.name}" is forbidden' if attrs.name else f"{resource} is forbidden"
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else ""
    scope = "" if attrs.namespace else " at the cluster scope"
    return (f'{head}: User "{attrs.user}" cannot {attrs.verb} resource "{resource}" in API group '
            f'"{attrs.api_group}"{where}{scope}')


# -- escalation prevention (escalation_check.go, validation.Covers) ------------------

def _breakdown(rule: Doc) -> Iterator[Doc]:
    """A rule as atomic rules: one verb, group, resource and name (or URL) each."""
    verbs = rule.get("verbs") or []
    urls = rule.get("nonResourceURLs") or []
    for verb in verbs:
        for url in urls:
            yield {"verbs": [verb], "nonResourceURLs": [url]}
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for name in rule.get("resourceNames") or [None]:
                    atom: dict[str, Any] = {"verbs": [verb], "apiGroups": [group], "resources": [resource]}
                    if name is not None:
                        atom["resourceNames"] = [name]
                    yield atom


def _covers(owner: Doc, atom: Doc) -> bool:
    if not _has(owner.get("verbs"), atom["verbs"][0]):
        return False
    if "nonResourceURLs" in atom:
        url = atom["nonResourceURLs"][0]
        return any(o == url or o == "*" or (o.endswith("*") and url.startswith(o[:-1]))
                   for o in owner.get("nonResourceURLs") or [])
    if not _has(owner.get("apiGroups"), atom["apiGroups"][0]):
        return False
    resource = atom["resources"][0]
    base, _, sub = resource.partition("/")
    owned = owner.get("resources") or []
    if not ("*" in owned or resource in owned or (sub and f"*/{sub}" in owned)):
        return False
    owner_names = owner.get("resourceNames") or []
    return not owner_names or bool(atom.get("resourceNames")) and atom["resourceNames"][0] in owner_names


def uncovered(owner_rules: Iterable[Doc], requested: Iterable[Doc]) -> list[Doc]:
    """The atomic rules of ``requested`` no rule of ``owner_rules`` covers (empty: no escalation)."""
    owned = list(owner_rules)
    return [atom for rule in requested for atom in _breakdown(rule) if not any(_covers(o, atom) for o in owned)]


def user_rules(policy: Policy, user: str, groups: Iterable[str], namespace: str) -> list[Doc]:
    return [rule for _, rule in rules_for(policy, user, groups, namespace)]
