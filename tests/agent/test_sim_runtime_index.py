"""The sim runtime lists a node's containers from its per-node index (one process hosts hundreds of nodes)."""

from __future__ import annotations

from agent.runtime.base import LABEL_NODE, ContainerSpec
from agent.runtime.sim import SimRuntime


async def test_listing_by_node_sees_only_that_nodes_containers_in_creation_order() -> None:
    runtime = SimRuntime()
    ids = {}
    for i in range(6):
        node = f"node-{i % 2}"
        ids[i] = await runtime.create_container(
            ContainerSpec(name=f"c{i}", image="x", labels={LABEL_NODE: node, "app": "a" if i < 4 else "b"}))
    listed = await runtime.list_containers({LABEL_NODE: "node-0"})
    assert [c.id for c in listed] == [ids[0], ids[2], ids[4]]
    assert [c.id for c in await runtime.list_containers({LABEL_NODE: "node-1", "app": "a"})] == [ids[1], ids[3]]
    assert await runtime.list_containers({LABEL_NODE: "node-9"}) == []
    assert len(await runtime.list_containers({"app": "b"})) == 2  # no node label: every container
    await runtime.remove_container(ids[2])
    await runtime.remove_container(ids[0])
    await runtime.remove_container(ids[4])
    assert await runtime.list_containers({LABEL_NODE: "node-0"}) == []
    assert len(await runtime.list_containers({})) == 3
