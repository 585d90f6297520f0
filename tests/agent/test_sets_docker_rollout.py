"""A DaemonSet on the real Docker Engine (issue 14): it runs on every node and on a node added
later. The controller manager runs in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import docker
import pytest

from controllers.manager import ControllerManager, ManagerConfig
from kubelite.api.resources import DAEMONSETS, PODS
from kubelite.etcd.client import EtcdConfig
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent, docker_runtime, remove_node_containers
from tests.helpers import wait_for

pytestmark = pytest.mark.docker

IMAGE = "kubelite/demo:latest"


@pytest.fixture
async def manager(etcd: EmbeddedEtcd) -> AsyncIterator[ControllerManager]:
    config = ManagerConfig(etcd=EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0), identity="sets-rollout",
                           listen=None, lease_ttl=3,
                           controllers=("scheduler", "daemonset", "garbagecollector"))
    manager = ControllerManager(config)
    await manager.start()
    try:
        await asyncio.wait_for(manager.wait_leading(), 15)
        yield manager
    finally:
        await manager.stop()


def daemonset() -> Any:
    return DAEMONSETS.model.model_validate({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agentd", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "agentd"}},
                 "template": {"metadata": {"labels": {"app": "agentd"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["sleep", "3600"]}]}}}})


async def _running_on(store: Store, app: str) -> dict[str, str]:
    """node → pod name, for the app's live pods that run and are ready."""
    pods = [p for p in (await store.list(PODS, "default")).items
            if (p.metadata.labels or {}).get("app") == app and p.metadata.deletion_timestamp is None]
    return {p.spec.node_name: p.name for p in pods if p.phase == "Running" and p.is_ready() and p.spec.node_name}


async def test_a_daemonset_runs_on_every_node_and_on_a_node_added_later(
    store: Store, start_agent: StartAgent, docker_node: str, docker_client: docker.DockerClient, tmp_path: Path,
    manager: ControllerManager,
) -> None:
    await start_agent(docker_node, runtime=docker_runtime(docker_node), root_dir=str(tmp_path / "a"))
    await store.create(DAEMONSETS, daemonset())
    await wait_for(lambda: _on_nodes(store, {docker_node}), 90, message="the first node's daemon pod")

    later = f"{docker_node}-b"
    remove_node_containers(docker_client, later)
    await start_agent(later, runtime=docker_runtime(later), root_dir=str(tmp_path / "b"))
    await wait_for(lambda: _on_nodes(store, {docker_node, later}), 90, message="a daemon pod on the new node")
    for node in (docker_node, later):
        running = docker_client.containers.list(filters={"label": [f"kubelite.node={node}"]})
        assert any("agentd" in c.name for c in running), [c.name for c in running]


async def _on_nodes(store: Store, nodes: set[str]) -> bool:
    return set(await _running_on(store, "agentd")) == nodes
