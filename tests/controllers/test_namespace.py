"""The namespace controller against real etcd, a real gateway and the real kubectl: `kubectl delete ns`
waits while the namespace is Terminating and its content (pods through their kubelet, replicasets,
deployments, events) is deleted, then the namespace is gone."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubelite.api import errors
from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import ALL_RESOURCES, DEPLOYMENTS, NAMESPACES, PODS
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store

from tests.controllers.conftest import MakeKubelet, MakeManager
from tests.controllers.objects import bare_pod, deployment
from tests.gateway.conftest import KUBECTL, Kubectl, gateway_config, stop_or_explain
from tests.gateway.test_crd import CRD, WIDGET
from tests.helpers import wait_for


@pytest.fixture
async def kubectl(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Kubectl]:
    if not Path(KUBECTL).exists() and shutil.which("kubectl") is None:
        pytest.fail(f"kubectl is not installed at {KUBECTL}", pytrace=False)
    gateway = Gateway(gateway_config(etcd))
    await gateway.start()
    home = tmp_path / "kubectl-home"
    home.mkdir()
    try:
        yield Kubectl(gateway.url, home)
    finally:
        await stop_or_explain(gateway)


async def contents(store: Store, namespace: str) -> dict[str, int]:
    found = {}
    for res in ALL_RESOURCES:
        if res.namespaced:
            items = (await store.list(res, namespace)).items
            if items:
                found[res.plural] = len(items)
    return found


def in_team(obj: object) -> object:
    obj.metadata.namespace = "team"  # type: ignore[attr-defined]
    return obj


async def test_kubectl_delete_namespace_waits_until_its_content_is_gone(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet, kubectl: Kubectl,
) -> None:
    await make_kubelet("n1")
    await make_manager()
    await kubectl("apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n")
    await store.create(DEPLOYMENTS, in_team(deployment("web", 3)))
    await store.create(PODS, in_team(bare_pod("unbound", node_selector={"nowhere": "true"})))

    async def running() -> bool:
        pods = (await store.list(PODS, "team")).items
        return sum(1 for p in pods if p.phase == "Running") == 3

    await wait_for(running, 15)
    assert {"pods", "replicasets", "deployments", "events"} <= set(await contents(store, "team"))

    result = await kubectl("delete", "namespace", "team", "--timeout=60s", timeout=70)
    assert 'namespace "team" deleted' in result.stdout
    with pytest.raises(errors.ApiError) as gone:  # kubectl waited: gone when it returns
        await store.get(NAMESPACES, "team")
    assert gone.value.code == 404
    assert await contents(store, "team") == {}


async def test_terminating_namespace_reports_what_remains_and_refuses_new_content(
    store: Store, make_manager: MakeManager, make_kubelet: MakeKubelet,
) -> None:
    """A pod whose kubelet is gone keeps the namespace Terminating (NamespaceContentRemaining) until
    the pod is force-deleted; nothing new may be created meanwhile."""
    kubelet = await make_kubelet("n1")
    await make_manager()
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="team")))
    pod = in_team(bare_pod("stuck"))
    pod.spec.termination_grace_period_seconds = 300  # type: ignore[attr-defined]
    await store.create(PODS, pod)

    async def bound() -> bool:
        return bool((await store.get(PODS, "stuck", "team")).spec.node_name)

    await wait_for(bound, 10)
    await kubelet.stop(revoke=False)  # nobody will finish the graceful deletion for a while
    await store.delete(NAMESPACES, "team")

    async def reports_remaining() -> bool:
        ns = await store.get(NAMESPACES, "team")
        condition = ns.status.condition("NamespaceContentRemaining") if ns.status else None
        return bool(condition and condition.status == "True"
                    and condition.message == "Some resources are remaining: pods has 1 resource instances")

    await wait_for(reports_remaining, 10)
    ns = await store.get(NAMESPACES, "team")
    assert ns.status.phase == "Terminating" and ns.spec.finalizers == ["kubernetes"]
    stuck = await store.get(PODS, "stuck", "team")
    assert stuck.metadata.deletion_timestamp is not None and stuck.metadata.deletion_grace_period_seconds == 300
    with pytest.raises(errors.ApiError) as refused:
        await store.create(PODS, in_team(bare_pod("late")))
    assert refused.value.code == 403

    await store.delete(PODS, "stuck", "team", grace_period_seconds=0)  # what `--force --grace-period=0` does

    async def namespace_gone() -> bool:
        try:
            await store.get(NAMESPACES, "team")
        except errors.ApiError as exc:
            return exc.code == 404
        return False

    await wait_for(namespace_gone, 10)


async def test_deleting_a_namespace_deletes_its_custom_resources(
    store: Store, make_manager: MakeManager, kubectl: Kubectl,
) -> None:
    await make_manager()
    await kubectl("apply", "-f", "-", stdin=CRD)
    await kubectl("create", "namespace", "team")
    await kubectl("apply", "-n", "team", "-f", "-", stdin=WIDGET)
    await kubectl("apply", "-n", "default", "-f", "-", stdin=WIDGET)
    assert "w1" in (await kubectl("get", "widgets", "-n", "team")).stdout
    result = await kubectl("delete", "namespace", "team", "--timeout=60s", timeout=70)
    assert 'namespace "team" deleted' in result.stdout
    left = await kubectl("get", "widgets", "-A", "-o", "name")
    assert left.stdout.split() == ["widget.example.com/w1"]  # the one in default stays
    assert "default" in (await kubectl("get", "widgets", "-A")).stdout
