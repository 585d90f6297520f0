"""Garbage collection through ownerReferences: background, foreground and orphan cascades."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubelite.api.resources import CONFIGMAPS, DEPLOYMENTS, JOBS, PODS, REPLICASETS, SECRETS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import delete_retrying, deployment, running_ready
from tests.gateway.conftest import Kubectl, gateway_config, stop_or_explain
from tests.gateway.test_crd import CRD, WIDGET
from tests.helpers import wait_for


async def _keys(store: Store) -> list[str]:
    result = []
    for res in (DEPLOYMENTS, REPLICASETS, PODS):
        result += [f"{res.plural}/{o.name}" for o in (await store.list(res, "default")).items]
    return result


async def _deployed(store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet) -> None:
    await make_kubelet("n1")
    await make_manager()
    await store.create(DEPLOYMENTS, deployment("web", 3))
    await wait_for(lambda: _ready(store, 3), 15)


async def _ready(store: Store, n: int) -> bool:
    return len(await running_ready(store, "web")) == n


async def test_background_cascade_leaves_no_keys(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await _deployed(store, make_manager, make_kubelet)
    await delete_retrying(store, DEPLOYMENTS, "web")
    await wait_for(lambda: _empty(store), 15)


async def _empty(store: Store) -> bool:
    return await _keys(store) == []


async def test_foreground_owner_waits_for_its_dependents(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await _deployed(store, make_manager, make_kubelet)
    _obj, deleted_now = await delete_retrying(store, DEPLOYMENTS, "web", propagation_policy="Foreground")
    assert not deleted_now
    saw_owner_with_pods = False

    async def gone() -> bool:
        nonlocal saw_owner_with_pods
        keys = await _keys(store)
        if "deployments/web" in keys and any(k.startswith("pods/") for k in keys):
            saw_owner_with_pods = True
        if "deployments/web" not in keys:
            assert not any(k.startswith(("pods/", "replicasets/")) for k in keys), keys
        return keys == []

    await wait_for(gone, 15, interval=0.02)
    assert saw_owner_with_pods


async def test_orphan_keeps_dependents_without_owner(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    await _deployed(store, make_manager, make_kubelet)
    await delete_retrying(store, DEPLOYMENTS, "web", propagation_policy="Orphan")

    async def orphaned() -> bool:
        keys = await _keys(store)
        rss = (await store.list(REPLICASETS, "default")).items
        return "deployments/web" not in keys and len(rss) == 1 and not rss[0].metadata.owner_references

    await wait_for(orphaned, 15)
    assert await _ready(store, 3)  # the ReplicaSet still owns and keeps its pods
    (rs,) = (await store.list(REPLICASETS, "default")).items
    await delete_retrying(store, REPLICASETS, rs.name)  # background: now the pods go too
    await wait_for(lambda: _empty(store), 15)


def _doc(res: Any, name: str, owner: Any = None, **fields: Any) -> Any:
    """A generic document of ``res`` (e.g. a Job or a ConfigMap), owned by ``owner`` if given."""
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name,
                                    "uid": owner.metadata.uid, "blockOwnerDeletion": True}]
    return res.model.model_validate({"apiVersion": res.api_version, "kind": res.kind, "metadata": meta, **fields})


async def _names(store: Store, res: Any) -> list[str]:
    # kube-root-ca.crt: the root-ca-cert-publisher's ConfigMap, in every namespace
    return [o.name for o in (await store.list(res, "default")).items if o.name != "kube-root-ca.crt"]


async def test_dependents_of_every_kind_are_collected_not_only_workloads(
    store: Store, make_manager: MakeManager,
) -> None:
    """A Job (a kind no built-in controller owned when the GC knew three kinds) owning a ConfigMap
    and a Secret: background deletion takes both, foreground keeps the Job until they are gone."""
    await make_manager()
    job = await store.create(JOBS, _doc(JOBS, "batch", spec={"template": {"spec": {
        "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}))
    await store.create(CONFIGMAPS, _doc(CONFIGMAPS, "batch-config", job, data={"k": "v"}))
    await store.create(SECRETS, _doc(SECRETS, "batch-secret", job))
    await delete_retrying(store, JOBS, "batch")

    async def collected() -> bool:
        return await _names(store, CONFIGMAPS) == [] and await _names(store, SECRETS) == []

    await wait_for(collected, 15)

    owner = await store.create(CONFIGMAPS, _doc(CONFIGMAPS, "owner"))
    await store.create(SECRETS, _doc(SECRETS, "dependent", owner))
    _obj, deleted_now = await delete_retrying(store, CONFIGMAPS, "owner", propagation_policy="Foreground")
    assert not deleted_now

    async def owner_gone_last() -> bool:
        owners, dependents = await _names(store, CONFIGMAPS), await _names(store, SECRETS)
        if not owners:
            assert not dependents, "the foreground owner went before its dependent"
        return not owners

    await wait_for(owner_gone_last, 15, interval=0.02)



async def test_dependents_of_a_deleted_custom_resource_are_collected(
    etcd: EmbeddedEtcd, make_manager: MakeManager, tmp_path: Path,
) -> None:
    """The GC watches each CRD's resources: a ConfigMap owned by a Widget goes when the Widget goes."""
    await make_manager()
    gateway = Gateway(gateway_config(etcd))
    await gateway.start()
    try:
        home = tmp_path / "kubectl-home"
        home.mkdir()
        kubectl = Kubectl(gateway.url, home)
        await kubectl("apply", "-f", "-", stdin=CRD)
        await kubectl("apply", "-f", "-", stdin=WIDGET)
        widget = json.loads((await kubectl("get", "widget", "w1", "-o", "json")).stdout)
        owned = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "ownerReferences": [
            {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "uid": widget["metadata"]["uid"]}]}}
        await kubectl("apply", "-f", "-", stdin=json.dumps(owned))
        await kubectl("delete", "widget", "w1")

        async def collected() -> bool:
            return (await kubectl("get", "configmap", "owned", check=False)).returncode != 0

        await wait_for(collected, 30, 0.3, message="the Widget's ConfigMap collected")
    finally:
        await stop_or_explain(gateway)
