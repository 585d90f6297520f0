"""The pod informer one process of sim nodes shares, on a real etcd: only its nodes' pods are kept,
and each node view's handlers hear only their node's pods."""

from __future__ import annotations

from agent.podsource import NodeView, shared_informer
from kubelite.api.resources import PODS
from kubelite.client.informer import FuncHandler
from kubelite.storage.store import Store
from kubelite.testing.waiting import wait_for
from tests.factories import make_pod


async def test_a_shared_informer_for_some_nodes_keeps_and_routes_only_theirs(store: Store) -> None:
    informer = shared_informer(store, nodes=["node-a", "node-b"])
    heard: dict[str, list[str]] = {"node-a": [], "node-b": []}
    def recorder(names: list[str]) -> FuncHandler:
        return FuncHandler.enqueue_all(lambda pod: names.append(pod.metadata.name))

    for node, names in heard.items():
        NodeView(informer, node).add_handler(recorder(names))
    await informer.start()
    try:
        await informer.wait_synced(10)
        await store.create(PODS, make_pod("mine", node="node-a"))
        await store.create(PODS, make_pod("other-process", node="node-x"))
        # a pod of another node that names one of ours elsewhere (a label): decoded, then left out exactly
        await store.create(PODS, make_pod("tricky", node="node-x", nodeName="node-a"))
        await store.create(PODS, make_pod("unbound"))
        await store.create(PODS, make_pod("theirs-b", node="node-b"))
        await wait_for(lambda: "theirs-b" in heard["node-b"] and "mine" in heard["node-a"], timeout=10)
        assert {p.metadata.name for p in informer.list()} == {"mine", "theirs-b"}
        assert set(heard["node-a"]) == {"mine"} and set(heard["node-b"]) == {"theirs-b"}
        assert NodeView(informer, "node-a").keys() == ["default/mine"]
    finally:
        await informer.stop()
