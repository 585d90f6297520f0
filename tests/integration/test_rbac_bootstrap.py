"""The default RBAC policy on a real etcd: created when absent; an existing default ClusterRole gains
the rules its default has and it lacks (kube-apiserver's start-up reconciliation), keeps what an
administrator added, and is left alone when annotated autoupdate "false"."""

from __future__ import annotations

from typing import Any

from kubelite.api.resources import CLUSTERROLES
from kubelite.auth import rbac
from kubelite.auth.rbac_bootstrap import default_cluster_roles, ensure_default_policy
from kubelite.storage.store import Store

PV_UPDATE = rbac.Attributes("system:node:n1", ("system:nodes",), "update", "", "", "persistentvolumes")


async def _rules(store: Store, name: str) -> list[dict[str, Any]]:
    return list((await store.get(CLUSTERROLES, name)).to_dict().get("rules") or [])


async def _set(store: Store, name: str, rules: list[dict[str, Any]], autoupdate: str = "true") -> None:
    def mutate(role: Any) -> Any:
        doc = role.to_dict()
        doc["rules"] = rules
        doc["metadata"]["annotations"] = {"rbac.authorization.kubernetes.io/autoupdate": autoupdate}
        return type(role).model_validate(doc)
    await store.guaranteed_update(CLUSTERROLES, name, None, mutate)


async def test_default_roles_gain_missing_rules_and_keep_the_administrators(store: Store) -> None:
    assert await ensure_default_policy(store, readonly_group=None) > 0
    assert await ensure_default_policy(store, readonly_group=None) == 0  # nothing missing: no write
    default = next(r for r in default_cluster_roles() if r["metadata"]["name"] == "system:node")
    # a cluster made by an older kubelite: system:node without the persistentvolumes rule, plus an admin's rule
    older = [r for r in default["rules"] if "persistentvolumes" not in r["resources"]]
    extra = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    await _set(store, "system:node", [*older, extra])
    assert not any(rbac.rule_allows(PV_UPDATE, r) for r in await _rules(store, "system:node"))

    assert await ensure_default_policy(store, readonly_group=None) == 1
    rules = await _rules(store, "system:node")
    assert any(rbac.rule_allows(PV_UPDATE, r) for r in rules) and extra in rules
    assert not rbac.uncovered(rules, default["rules"])

    await _set(store, "system:node", older, autoupdate="false")  # opted out: left as the administrator made it
    assert await ensure_default_policy(store, readonly_group=None) == 0
    assert await _rules(store, "system:node") == older
