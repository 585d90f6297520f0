"""The resource quota controller in a running controller manager, against real etcd: a quota gets its
status, a ReplicaSet asking for more pods than the quota allows gets exactly what fits (the rest refused
with kube's message in a FailedCreate event), and scaling down gives the places back, so the ReplicaSet
then creates what it still lacks."""

from __future__ import annotations

from typing import Any

from kubelite.api.resources import EVENTS, REPLICASETS, RESOURCEQUOTAS
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import pods, replicaset
from tests.helpers import wait_for

CONTROLLERS = ("scheduler", "replicaset", "resourcequota")


async def used(store: Store) -> dict[str, Any]:
    status = (await store.get(RESOURCEQUOTAS, "q", "default")).to_dict().get("status") or {}
    return dict(status.get("used") or {})


async def test_a_replicaset_gets_what_the_quota_allows(store: Store, make_manager: MakeManager,
                                                        make_kubelet: MakeKubelet) -> None:
    await make_kubelet("n1")
    await make_manager(controllers=CONTROLLERS)
    await store.create(RESOURCEQUOTAS, RESOURCEQUOTAS.model.model_validate({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
        "spec": {"hard": {"pods": "3", "count/replicasets.apps": "2"}}}))
    await wait_for(lambda: _is(store, {"pods": "0", "count/replicasets.apps": "0"}), 10)

    await store.create(REPLICASETS, replicaset("web", 5))
    await wait_for(lambda: _is(store, {"pods": "3", "count/replicasets.apps": "1"}), 15)
    assert len(await pods(store, "web")) == 3
    await wait_for(lambda: _refused(store), 10)

    def scale(n: int) -> Any:
        def mutate(rs: Any) -> Any:
            rs.spec.replicas = n
            return rs
        return mutate
    await store.guaranteed_update(REPLICASETS, "web", "default", scale(1))
    await wait_for(lambda: _is(store, {"pods": "1", "count/replicasets.apps": "1"}), 15)
    await store.guaranteed_update(REPLICASETS, "web", "default", scale(3))
    await wait_for(lambda: _count(store, 3), 15)
    await wait_for(lambda: _is(store, {"pods": "3", "count/replicasets.apps": "1"}), 10)


async def _is(store: Store, expected: dict[str, str]) -> bool:
    return await used(store) == expected


async def _count(store: Store, n: int) -> bool:
    return len(await pods(store, "web")) == n


async def _refused(store: Store) -> bool:
    """The ReplicaSet's FailedCreate event carries kube's quota message."""
    return any(e.reason == "FailedCreate" and e.message and "is forbidden: exceeded quota: q, requested: pods=1, "
               "used: pods=3, limited: pods=3" in e.message for e in (await store.list(EVENTS, "default")).items)
