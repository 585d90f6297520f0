"""Node-lifecycle's "pods of a deleted Node are deleted", when the node cache is behind the pod cache.

The nodes and pods informers are separate watches: a Node registered just before a pod bound to it
can reach the pod cache first. node-lifecycle used to take the Node's absence from its cache as the
Node's deletion and force-deleted the pod (CI: test_endpointslice's lease test waited 30 s for a pod
that node-lifecycle had deleted as NodeDeleted within milliseconds of its creation). The node
informer is never started here, the extreme of that lag, so the race is exact and deterministic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubelite.api.core import Node, Pod
from kubelite.api.resources import NODES, PODS
from kubelite.client.bootstrap import ensure_system_namespaces
from kubelite.storage.memstore import MemStore

from controllers.context import ControllerContext, SharedInformers
from controllers.nodelifecycle import NodeLifecycleController

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def lagging() -> AsyncIterator[tuple[MemStore, NodeLifecycleController]]:
    """A Node and a pod bound to it in the store; the controller's pod cache has the pod, its node
    cache has nothing."""
    store = MemStore()
    await ensure_system_namespaces(store)
    await store.create(NODES, Node.model_validate({"metadata": {"name": "n1"}}))
    await store.create(PODS, Pod.model_validate({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}))
    informers = SharedInformers.create(store)
    controller = NodeLifecycleController(ControllerContext(store=store, informers=informers))
    await informers.pods.start()
    try:
        await informers.pods.wait_synced(5)
        assert informers.nodes.get("n1") is None and len(informers.pods.by_index("node", "n1")) == 1
        yield store, controller
    finally:
        await informers.pods.stop()


async def test_a_node_missing_only_from_the_cache_keeps_its_pods(
        lagging: tuple[MemStore, NodeLifecycleController]) -> None:
    store, controller = lagging
    assert await controller.reconcile("n1") is None
    assert [p.name for p in (await store.list(PODS, "default")).items] == ["p"]


async def test_a_node_gone_from_the_store_loses_its_pods(lagging: tuple[MemStore, NodeLifecycleController]) -> None:
    store, controller = lagging
    await store.delete(NODES, "n1")
    await controller.reconcile("n1")
    assert (await store.list(PODS, "default")).items == []
