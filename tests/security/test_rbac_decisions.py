"""RBAC decision table (pure authorizer, kube's evaluation_helpers semantics) and escalation checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.auth.rbac import Attributes, Policy, authorize, forbidden_message, rule_allows, uncovered, user_rules
from kubelite.auth.rbac_bootstrap import default_cluster_role_bindings, default_cluster_roles


def role(ns: str, name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Role", "metadata": {"namespace": ns, "name": name}, "rules": list(rules)}


def binding(ns: str, name: str, ref_kind: str, ref: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "RoleBinding", "metadata": {"namespace": ns, "name": name},
            "roleRef": {"kind": ref_kind, "name": ref}, "subjects": list(subjects)}


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name}


POLICY = Policy.of([
    *default_cluster_roles(), *default_cluster_role_bindings("kubelite:readonly"),
    role("dev", "pod-reader", {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}),
    role("dev", "one-cm", {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]}),
    role("dev", "logs", {"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}),
    binding("dev", "alice-pods", "Role", "pod-reader", user("alice")),
    binding("dev", "alice-cm", "Role", "one-cm", user("alice")),
    binding("dev", "bob-logs", "Role", "logs", user("bob")),
    binding("dev", "sa-edit", "ClusterRole", "edit", {"kind": "ServiceAccount", "name": "ci"}),
    binding("dev", "team-view", "ClusterRole", "view", {"kind": "Group", "name": "team"}),
])


def req(user_name: str, verb: str, resource: str, ns: str = "dev", *, groups: tuple[str, ...] = ("system:authenticated",),
        group: str = "", sub: str = "", name: str = "") -> Attributes:
    return Attributes(user=user_name, groups=groups, verb=verb, namespace=ns, api_group=group, resource=resource,
                      subresource=sub, name=name)


@pytest.mark.parametrize("attrs,allowed", [
    (req("alice", "list", "pods"), True),
    (req("alice", "list", "pods", "prod"), False),  # a RoleBinding holds in its namespace only
    (req("alice", "delete", "pods", name="x"), False),
    (req("alice", "get", "pods", sub="log", name="x"), False),  # a subresource is not its resource
    (req("alice", "get", "configmaps", name="app"), True),
    (req("alice", "get", "configmaps", name="other"), False),
    (req("alice", "list", "configmaps"), False),  # resourceNames never match a list
    (req("bob", "get", "pods", sub="log", name="x"), True),  # */log
    (req("bob", "get", "pods", name="x"), False),
    (req("system:serviceaccount:dev:ci", "create", "deployments", group="apps"), True),
    (req("system:serviceaccount:other:ci", "create", "deployments", group="apps"), False),
    (req("system:serviceaccount:dev:ci", "create", "pods", sub="exec", name="p"), True),
    (req("system:serviceaccount:dev:ci", "create", "roles", group="rbac.authorization.k8s.io"), False),
    (req("carol", "list", "deployments", groups=("team", "system:authenticated"), group="apps"), True),
    (req("carol", "create", "deployments", groups=("team",), group="apps"), False),
    (req("carol", "get", "secrets", groups=("team",), name="s"), False),  # view never reads secrets
    (req("root", "delete", "nodes", "", groups=("system:masters",)), True),
    (req("ro", "list", "pods", "anywhere", groups=("kubelite:readonly",)), True),
    (req("ro", "create", "pods", "anywhere", groups=("kubelite:readonly",)), False),
    (req("anybody", "create", "selfsubjectaccessreviews", "", group="authorization.k8s.io"), True),
    (req("system:kube-scheduler", "create", "pods", sub="binding", name="p"), True),  # a scheduler binds
    (req("system:kube-scheduler", "delete", "pods", name="p"), False),
    (req("system:serviceaccount:dev:ci", "create", "pods", sub="binding", name="p"), False),  # edit does not
    (req("anybody", "create", "selfsubjectaccessreviews", "", groups=("system:unauthenticated",),
         group="authorization.k8s.io"), False),
])
def test_decision_table(attrs: Attributes, allowed: bool) -> None:
    assert authorize(POLICY, attrs).allowed is allowed


def test_non_resource_urls() -> None:
    def path(p: str, groups: tuple[str, ...]) -> Attributes:
        return Attributes(user="u", groups=groups, verb="get", resource_request=False, path=p)
    assert authorize(POLICY, path("/apis/apps/v1", ("system:authenticated",))).allowed
    assert authorize(POLICY, path("/version", ("system:unauthenticated",))).allowed
    assert not authorize(POLICY, path("/apis", ("system:unauthenticated",))).allowed
    assert not authorize(POLICY, path("/metrics", ("system:authenticated",))).allowed


def test_aggregation_extends_view() -> None:
    extra = {"kind": "ClusterRole", "metadata": {"name": "crd-view",
             "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
             "rules": [{"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}]}
    attrs = req("carol", "get", "widgets", groups=("team",), group="example.com", name="w")
    assert not authorize(POLICY, attrs).allowed
    docs = [*default_cluster_roles(), extra,
            binding("dev", "team-view", "ClusterRole", "view", {"kind": "Group", "name": "team"})]
    assert authorize(Policy.of(docs), attrs).allowed
    # and through edit/admin, which aggregate view
    docs[-1] = binding("dev", "team-admin", "ClusterRole", "admin", {"kind": "Group", "name": "team"})
    assert authorize(Policy.of(docs), attrs).allowed


def test_forbidden_message_is_kube_apiservers() -> None:
    assert forbidden_message(req("x", "list", "pods", "default")) == (
        'pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "default"')
    assert forbidden_message(req("x", "get", "nodes", "", name="n1")) == (
        'nodes "n1" is forbidden: User "x" cannot get resource "nodes" in API group "" at the cluster scope')


def test_escalation_is_detected() -> None:
    alice = user_rules(POLICY, "alice", ("system:authenticated",), "dev")
    assert uncovered(alice, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]) == []
    assert uncovered(alice, [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["app"]}]) == []
    assert uncovered(alice, [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}])
    assert uncovered(alice, [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}])
    assert uncovered(alice, [{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}])


VERBS = st.sampled_from(["get", "list", "watch", "create", "update", "patch", "delete", "*"])
GROUPS = st.sampled_from(["", "apps", "batch", "*"])
RESOURCES = st.sampled_from(["pods", "pods/log", "deployments", "secrets", "*", "*/status", "pods/status"])
NAMES = st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True)
RULES = st.builds(lambda v, g, r, n: {"verbs": v, "apiGroups": g, "resources": r, "resourceNames": n},
                  st.lists(VERBS, min_size=1, max_size=3), st.lists(GROUPS, min_size=1, max_size=2),
                  st.lists(RESOURCES, min_size=1, max_size=3), NAMES)
CONCRETE = st.builds(lambda v, g, r, n: (v, g, r, n), st.sampled_from(["get", "list", "create", "delete"]),
                     st.sampled_from(["", "apps", "batch"]),
                     st.sampled_from(["pods", "pods/log", "deployments", "secrets", "pods/status"]),
                     st.sampled_from(["", "a", "b"]))


@given(st.lists(RULES, max_size=4))
def test_a_user_never_escalates_to_their_own_rules(rules: list[dict[str, Any]]) -> None:
    assert uncovered(rules, rules) == []


@given(st.lists(RULES, max_size=4), st.lists(RULES, max_size=3), CONCRETE)
def test_covered_rules_grant_nothing_more(owner: list[dict[str, Any]], requested: list[dict[str, Any]],
                                          concrete: tuple[str, str, str, str]) -> None:
    """If the owner's rules cover a role, every request that role allows the owner's rules allow too."""
    if uncovered(owner, requested):
        return
    verb, group, combined, name = concrete
    resource, _, sub = combined.partition("/")
    attrs = Attributes(user="u", verb=verb, api_group=group, resource=resource, subresource=sub, name=name,
                       namespace="ns")
    if any(rule_allows(attrs, r) for r in requested):
        assert any(rule_allows(attrs, r) for r in owner)


ATTRS = st.builds(lambda who, verb, ns, group, res, name: Attributes(
    user=who, groups=("system:authenticated",), verb=verb, namespace=ns, api_group=group,
    resource=res.partition("/")[0], subresource=res.partition("/")[2], name=name),
    st.sampled_from(["alice", "bob", "system:serviceaccount:dev:ci"]), st.sampled_from(["get", "list", "create", "delete"]),
    st.sampled_from(["", "dev", "prod"]), st.sampled_from(["", "apps"]),
    st.sampled_from(["pods", "pods/log", "deployments", "secrets"]), st.sampled_from(["", "a"]))
SUBJECTS = st.sampled_from([user("alice"), user("bob"), {"kind": "Group", "name": "system:authenticated"},
                            {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"}])


@given(ATTRS)
def test_deny_by_default(attrs: Attributes) -> None:
    assert not authorize(Policy(), attrs).allowed
    assert authorize(Policy(), Attributes(**{**attrs.__dict__, "groups": ("system:masters",)})).allowed


@given(st.lists(RULES, min_size=1, max_size=3), st.sampled_from(["dev", "prod"]), SUBJECTS, ATTRS,
       st.lists(RULES, max_size=2), SUBJECTS)
def test_a_binding_only_adds_permissions(rules: list[dict[str, Any]], ns: str, subject: dict[str, Any],
                                        attrs: Attributes, other_rules: list[dict[str, Any]],
                                        other_subject: dict[str, Any]) -> None:
    """RBAC has no deny rules: adding a role and binding never takes a permission away, and a
    RoleBinding never grants anything outside its namespace."""
    base = [role(ns, "r", *rules), binding(ns, "b", "Role", "r", subject)]
    more = [*base, role("prod", "o", *other_rules), binding("prod", "o", "Role", "o", other_subject)]
    before = authorize(Policy.of(base), attrs).allowed
    assert not before or authorize(Policy.of(more), attrs).allowed
    if before:
        assert attrs.namespace == ns
