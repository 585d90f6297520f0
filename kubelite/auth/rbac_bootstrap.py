"""The default ClusterRoles and ClusterRoleBindings a cluster starts with (kube's bootstrap policy,
``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``), created by the gateway when absent.

Like kube-apiserver at start, a default ClusterRole that exists gets the rules of its default that
it lacks (``reconciliation.computeReconciledRole``: missing permissions are added, none removed;
not for aggregated roles, whose rules their aggregation makes), so an upgraded cluster's roles
gain what a new kubelite needs — unless an administrator annotated it
``rbac.authorization.kubernetes.io/autoupdate: "false"``. Bindings are left as they are. ``admin``/``edit``/``view`` aggregate the ``aggregate-to-*`` roles, so a ClusterRole
labelled ``rbac.authorization.k8s.io/aggregate-to-view: "true"`` extends ``view`` as in Kubernetes.
"""

from __future__ import annotations

from typing import Any

from kubelite.api import errors
from kubelite.api.meta import KubeObject
from kubelite.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES
from kubelite.auth.rbac import uncovered
from kubelite.storage.store import Store

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
_AUTOUPDATE = {AUTOUPDATE_ANNOTATION: "true"}

_VIEW_CORE = ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
              "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
              "services/status", "bindings", "events", "limitranges", "namespaces/status", "pods/log",
              "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status",
              "namespaces"]
_VIEW_APPS = ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
              "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
              "statefulsets/scale", "statefulsets/status"]


def _rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if names:
        rule["resourceNames"] = names
    return rule


def _cluster_role(name: str, rules: list[dict[str, Any]], *, labels: dict[str, str] | None = None,
                  aggregate_from: list[str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**_BOOTSTRAP_LABELS, **(labels or {})}, "annotations": dict(_AUTOUPDATE)},
        "rules": rules,
    }
    if aggregate_from:
        doc["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{to}": "true"}} for to in aggregate_from]}
    return doc


def _binding(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(_BOOTSTRAP_LABELS), "annotations": dict(_AUTOUPDATE)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def _group(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def _user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def default_cluster_roles() -> list[dict[str, Any]]:
    agg = "rbac.authorization.k8s.io/aggregate-to-"
    return [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), {"verbs": ["*"], "nonResourceURLs": ["*"]}]),
        _cluster_role("admin", [], aggregate_from=["admin"]),
        _cluster_role("edit", [], labels={f"{agg}admin": "true"}, aggregate_from=["edit"]),
        _cluster_role("view", [], labels={f"{agg}edit": "true"}, aggregate_from=["view"]),
        _cluster_role("system:aggregate-to-view", [
            _rule(READ, [""], _VIEW_CORE), _rule(READ, ["apps"], _VIEW_APPS),
            _rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            _rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
            _rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            _rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
            _rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        ], labels={f"{agg}view": "true"}),
        _cluster_role("system:aggregate-to-edit", [
            _rule(["create", "delete", "deletecollection", "patch", "update"], [""],
                  ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
            _rule(["create"], [""], ["pods/eviction"]),
            _rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                                "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                                "services/proxy", "endpoints"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),
            _rule([*READ, *WRITE], ["apps"], _VIEW_APPS),
            _rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
            _rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
            _rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
            _rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
            _rule(READ, [""], ["secrets"]),
        ], labels={f"{agg}edit": "true"}),
        _cluster_role("system:aggregate-to-admin", [
            _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            _rule([*READ, *WRITE], ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
        ], labels={f"{agg}admin": "true"}),
        _cluster_role("system:basic-user", [
            _rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ]),
        _cluster_role("system:discovery", [{"verbs": ["get"], "nonResourceURLs": [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"]}]),
        _cluster_role("system:public-info-viewer", [{"verbs": ["get"], "nonResourceURLs": [
            "/healthz", "/livez", "/readyz", "/version", "/version/"]}]),
        _cluster_role("system:service-account-issuer-discovery", [{"verbs": ["get"], "nonResourceURLs": [
            "/.well-known/openid-configuration", "/.well-known/openid-configuration/", "/openid/v1/jwks",
            "/openid/v1/jwks/"]}]),
        _cluster_role("system:auth-delegator", [
            _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        ]),
        # kubelite's controller-manager and agents write etcd directly today (docs/security.md): these
        # roles name what they would need through the API.
        _cluster_role("system:kube-controller-manager", [_rule(["*"], ["*"], ["*"])]),
        _cluster_role("system:kube-scheduler", [  # kube's, for a scheduler of one's own on the API
            _rule(READ, [""], ["pods", "nodes", "namespaces", "persistentvolumeclaims", "persistentvolumes", "services"]),
            _rule(["create"], [""], ["pods/binding", "bindings"]),
            _rule(["patch", "update"], [""], ["pods/status"]),
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(READ, ["coordination.k8s.io"], ["leases"]),
            _rule(["create", "update"], ["coordination.k8s.io"], ["leases"]),
        ]),
        _cluster_role("system:node", [
            _rule([*READ, "create", "update", "patch", "delete"], [""], ["nodes", "nodes/status"]),
            # Secrets, ConfigMaps, claims and volumes: only what its pods use, by the Node authorizer
            # (kubelite.gateway.nodeauthz), as kubeadm's kube-apiserver runs --authorization-mode Node,RBAC
            _rule(READ, [""], ["pods", "services", "endpoints"]),
            _rule(["update", "patch"], [""], ["pods/status"]),
            _rule(["create", "delete"], [""], ["pods"]),
            _rule(["create"], [""], ["pods/eviction"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),  # pods' projected tokens (NodeRestriction limits it)
            _rule(["create", "update", "patch"], [""], ["events"]),
            _rule(["get", "create", "update", "patch", "delete"], ["coordination.k8s.io"], ["leases"]),
            # kubelite only: the local-path finalizer drop of its own deleted volumes (NodeRestriction
            # narrows it to exactly that; kubelite/gateway/noderestriction.py)
            _rule(["update", "patch"], [""], ["persistentvolumes"]),
        ]),
    ]


def default_cluster_role_bindings(readonly_group: str | None) -> list[dict[str, Any]]:
    bindings = [
        _binding("cluster-admin", "cluster-admin", [_group("system:masters")]),
        _binding("system:basic-user", "system:basic-user", [_group("system:authenticated")]),
        _binding("system:discovery", "system:discovery", [_group("system:authenticated")]),
        _binding("system:public-info-viewer", "system:public-info-viewer",
                 [_group("system:authenticated"), _group("system:unauthenticated")]),
        _binding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
                 [_group("system:serviceaccounts")]),
        _binding("system:kube-controller-manager", "system:kube-controller-manager",
                 [_user("system:kube-controller-manager")]),
        _binding("system:kube-scheduler", "system:kube-scheduler", [_user("system:kube-scheduler")]),
        _binding("system:node", "system:node", [_group("system:nodes")]),
    ]
    if readonly_group:  # the old read-only group (--readonly-group) is a binding to view
        bindings.append(_binding("kubelite:readonly", "view", [_group(readonly_group)]))
    return bindings


async def ensure_default_policy(store: Store, *, readonly_group: str | None) -> int:
    """Create the default roles and bindings that are absent, and add to an existing default
    ClusterRole the rules it lacks (module docstring); returns how many were created or changed."""
    changed = 0
    for res, docs in ((CLUSTERROLES, default_cluster_roles()),
                      (CLUSTERROLEBINDINGS, default_cluster_role_bindings(readonly_group))):
        for doc in docs:
            try:
                await store.create(res, res.model.model_validate(doc))
                changed += 1
                continue
            except errors.ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise
            if res is CLUSTERROLES and reconciled_rules(await store.get(res, doc["metadata"]["name"]), doc):
                await store.guaranteed_update(res, doc["metadata"]["name"], None, _add_missing_rules(doc))
                changed += 1
    return changed


def reconciled_rules(existing: KubeObject, default: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The rules ``existing`` should have: its own plus the atomic rules of ``default`` none of its
    rules covers; None when nothing is missing, it is aggregated, or it opted out (autoupdate "false")."""
    doc = existing.to_dict()
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    if annotations.get(AUTOUPDATE_ANNOTATION) == "false" or default.get("aggregationRule") or doc.get("aggregationRule"):
        return None
    rules = list(doc.get("rules") or [])
    missing = uncovered(rules, default.get("rules") or [])
    return [*rules, *(dict(atom) for atom in missing)] if missing else None


def _add_missing_rules(default: dict[str, Any]) -> Any:
    def mutate(current: Any) -> Any:
        rules = reconciled_rules(current, default)
        if rules is None:
            return None
        doc = current.to_dict()
        doc["rules"] = rules
        return type(current).model_validate(doc)
    return mutate
