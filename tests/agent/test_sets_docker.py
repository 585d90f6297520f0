"""A StatefulSet on the real Docker Engine (issue 14): three pods started in order keep their names
and their data across a pod delete — each claim is bound by the local-path provisioner to a directory
on the node, which the agent mounts. The controller manager runs in-process with the scheduler, the
StatefulSet controller, the provisioner and the garbage collector.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import docker
import pytest

from controllers.manager import ControllerManager, ManagerConfig
from kubelite.api import errors
from kubelite.api.resources import PERSISTENTVOLUMES, PODS, STATEFULSETS
from kubelite.etcd_client import EtcdConfig
from kubelite.etcd_server import EmbeddedEtcd
from kubelite.store import Store
from tests.agent.conftest import StartAgent, docker_runtime
from tests.helpers import wait_for

from agent.runtime.base import LABEL_NODE, LABEL_POD_NAME

pytestmark = pytest.mark.docker

IMAGE = "kubelite/demo:latest"
# each pod writes a value of its own into its volume once; later pods of the same ordinal only read it
SCRIPT = '[ -f /data/id ] || echo "$RANDOM-$RANDOM-$RANDOM" > /data/id; exec sleep 3600'


def statefulset() -> Any:
    return STATEFULSETS.model.model_validate({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", SCRIPT],
                                     # Ready once the value is on disk: the test reads it right after
                                     "readinessProbe": {"exec": {"command": ["cat", "/data/id"]},
                                                        "periodSeconds": 1},
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}]}})


@pytest.fixture
async def manager(etcd: EmbeddedEtcd) -> AsyncIterator[ControllerManager]:
    config = ManagerConfig(etcd=EtcdConfig(endpoints=(etcd.endpoint,), timeout=3.0), identity="sets-docker",
                           listen=None, lease_ttl=3,
                           controllers=("scheduler", "statefulset", "localpath", "garbagecollector"))
    manager = ControllerManager(config)
    await manager.start()
    try:
        await asyncio.wait_for(manager.wait_leading(), 15)
        yield manager
    finally:
        await manager.stop()


def data_of(client: docker.DockerClient, node: str, pod: str) -> str:
    found = client.containers.list(filters={"label": [f"{LABEL_NODE}={node}", f"{LABEL_POD_NAME}={pod}"]})
    assert found, f"no running container of {pod}"
    result = found[0].exec_run(["cat", "/data/id"])
    assert result.exit_code == 0, result.output
    return str(result.output.decode().strip())


async def test_statefulset_keeps_names_and_data_across_a_pod_delete(
    store: Store, start_agent: StartAgent, docker_node: str, docker_client: docker.DockerClient, tmp_path: Path,
    manager: ControllerManager,
) -> None:
    await start_agent(docker_node, runtime=docker_runtime(docker_node), root_dir=str(tmp_path / "root"))
    await store.create(STATEFULSETS, statefulset())
    directories: list[str] = []
    try:
        async def running(names: list[str]) -> bool:
            pods = {p.name: p for p in (await store.list(PODS, "default")).items
                    if p.metadata.deletion_timestamp is None}
            return sorted(pods) == names and all(p.phase == "Running" and p.is_ready() for p in pods.values())
        await wait_for(lambda: running(["db-0", "db-1", "db-2"]), 120, message="three pods Running")
        volumes = (await store.list(PERSISTENTVOLUMES)).items
        directories = [v.to_dict()["spec"]["hostPath"]["path"] for v in volumes]
        assert len(directories) == 3 and all(Path(d).is_dir() for d in directories)
        before = {name: data_of(docker_client, docker_node, name) for name in ("db-0", "db-1", "db-2")}
        assert len(set(before.values())) == 3 and all(before.values()), before

        uid = (await store.get(PODS, "db-1", "default")).metadata.uid
        await store.delete(PODS, "db-1", "default")

        async def replaced() -> bool:
            try:
                pod = await store.get(PODS, "db-1", "default")
            except errors.ApiError as exc:
                if exc.code == 404:  # between the old pod's removal and the new one's creation
                    return False
                raise
            return pod.metadata.uid != uid and pod.phase == "Running" and pod.is_ready()
        await wait_for(replaced, 120, message="db-1 back under its name")
        assert data_of(docker_client, docker_node, "db-1") == before["db-1"]  # the same volume, the same data
    finally:
        await store.delete(STATEFULSETS, "db", "default")
        for directory in directories:  # the provisioner's directories on this machine
            shutil.rmtree(directory, ignore_errors=True)
