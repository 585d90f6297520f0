"""A StatefulSet on the real Docker Engine (issue 14), one cluster for the whole story: three pods
start in order (OrderedReady, read back from etcd's history), keep their names and their data across
a pod delete — each claim is bound by the local-path provisioner to a directory on the node, which
the agent mounts — roll to a new template and back with the real ``kubectl rollout undo`` (1.32),
keeping their data. The controller manager runs in-process with the scheduler, the StatefulSet
controller, the provisioner and the garbage collector; a gateway serves kubectl.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import docker
import pytest

from controllers.manager import ControllerManager, ManagerConfig
from kubelite.api import errors
from kubelite.api.resources import PERSISTENTVOLUMES, PODS, STATEFULSETS
from kubelite.api.workloads import REVISION_HASH_LABEL
from kubelite.etcd.client import EtcdClient, EtcdConfig
from kubelite.etcd.ops import range_
from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.storage.store import Store, decode
from tests.agent.conftest import StartAgent, docker_runtime
from tests.gateway.conftest import KUBECTL, Kubectl, gateway_config, stop_or_explain
from tests.helpers import wait_for

from agent.runtime.base import LABEL_NODE, LABEL_POD_NAME

pytestmark = [pytest.mark.docker, pytest.mark.timeout(420)]

IMAGE = "kubelite/demo:latest"
NAMES = ["db-0", "db-1", "db-2"]
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


@pytest.fixture
async def kubectl(etcd: EmbeddedEtcd, tmp_path: Path) -> AsyncIterator[Kubectl]:
    assert Path(KUBECTL).exists(), f"kubectl is needed at {KUBECTL}"
    gateway = Gateway(gateway_config(etcd))
    await gateway.start()
    home = tmp_path / "kubectl-home"
    home.mkdir()
    try:
        yield Kubectl(gateway.url, home)
    finally:
        await stop_or_explain(gateway)


def data_of(client: docker.DockerClient, node: str, pod: str) -> str:
    found = client.containers.list(filters={"label": [f"{LABEL_NODE}={node}", f"{LABEL_POD_NAME}={pod}"]})
    assert found, f"no running container of {pod}"
    result = found[0].exec_run(["cat", "/data/id"])
    assert result.exit_code == 0, result.output
    return str(result.output.decode().strip())


async def live_pods(store: Store) -> dict[str, Any]:
    return {p.name: p for p in (await store.list(PODS, "default")).items if p.metadata.deletion_timestamp is None}


async def all_running(store: Store, *, revision: str | None = None) -> bool:
    """db-0..2 Running and Ready (and of ``revision``, when given), none going away."""
    pods = await live_pods(store)
    return sorted(pods) == NAMES and all(
        p.phase == "Running" and p.is_ready()
        and (revision is None or (p.metadata.labels or {}).get(REVISION_HASH_LABEL) == revision)
        for p in pods.values())


async def assert_started_in_order(etcd_client: EtcdClient) -> None:
    """OrderedReady, from etcd's history rather than timing: at the revision just before db-N was
    created, db-(N-1) existed, was not going away, and was Running and Ready."""
    for lower, higher in zip(NAMES, NAMES[1:]):
        created = (await range_(etcd_client, PODS.key(higher, "default"), what="test")).kvs[0].create_revision
        before = await range_(etcd_client, PODS.key(lower, "default"), revision=created - 1, what="test")
        assert before.kvs, f"{higher} was created before {lower} existed"
        pod = decode(PODS, before.kvs[0].value, before.kvs[0].mod_revision)
        assert pod.metadata.deletion_timestamp is None and pod.phase == "Running" and pod.is_ready(), (
            f"{higher} was created (revision {created}) while {lower} was {pod.phase}, ready={pod.is_ready()}")


async def describe(store: Store, docker_client: docker.DockerClient, node: str) -> str:
    """The set's status, its pods and their containers: what a failed wait shows."""
    status = (await store.get(STATEFULSETS, "db", "default")).to_dict().get("status")
    pods = [(p.name, (p.metadata.labels or {}).get(REVISION_HASH_LABEL), p.phase, p.is_ready(),
             p.metadata.deletion_timestamp, p.metadata.finalizers, p.metadata.uid)
            for p in (await store.list(PODS, "default")).items]
    containers = [(c.name, c.status) for c in docker_client.containers.list(
        all=True, sparse=True, filters={"label": f"{LABEL_NODE}={node}"})]
    return f"status={status}\npods={pods}\ncontainers={containers}"


async def revision_names(store: Store) -> tuple[str, str]:
    """(currentRevision, updateRevision) of the set."""
    status = (await store.get(STATEFULSETS, "db", "default")).to_dict().get("status") or {}
    return status.get("currentRevision", ""), status.get("updateRevision", "")


async def test_statefulset_starts_in_order_keeps_names_and_data_and_rolls_back(
    store: Store, etcd_client: EtcdClient, start_agent: StartAgent, docker_node: str,
    docker_client: docker.DockerClient, tmp_path: Path, manager: ControllerManager, kubectl: Kubectl,
) -> None:
    await start_agent(docker_node, runtime=docker_runtime(docker_node), root_dir=str(tmp_path / "root"))
    await store.create(STATEFULSETS, statefulset())
    directories: list[str] = []

    async def wait(predicate: Any, timeout: float, message: str) -> Any:
        try:
            return await wait_for(predicate, timeout, 0.5, message=message)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await describe(store, docker_client, docker_node)}") from None
    try:
        await wait(lambda: all_running(store), 120, message="three pods Running")
        await assert_started_in_order(etcd_client)
        volumes = (await store.list(PERSISTENTVOLUMES)).items
        directories = [v.to_dict()["spec"]["hostPath"]["path"] for v in volumes]
        assert len(directories) == 3 and all(Path(d).is_dir() for d in directories)
        before = {name: data_of(docker_client, docker_node, name) for name in NAMES}
        assert len(set(before.values())) == 3 and all(before.values()), before

        # a pod delete: the same name comes back on the same volume
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
        await wait(replaced, 120, message="db-1 back under its name")
        assert data_of(docker_client, docker_node, "db-1") == before["db-1"]  # the same volume, the same data

        # a rolling update to a second template, then kubectl rollout undo back to the first
        first, _ = await revision_names(store)
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "RELEASE", "value": "2"}]}]}}}}
        await kubectl("patch", "statefulset", "db", "-p", json.dumps(patch))

        async def rolled_to_a_new_revision() -> str | None:
            current, update = await revision_names(store)
            return update if update != first and current == update and await all_running(store, revision=update) else None
        second = await wait(rolled_to_a_new_revision, 180, message="every pod on the second revision")
        for name, pod in (await live_pods(store)).items():
            assert pod.spec.containers[0].env and pod.spec.containers[0].env[0].value == "2", name
        history = await kubectl("rollout", "history", "statefulset/db")
        assert "1" in history.stdout and "2" in history.stdout, history.stdout

        await kubectl("rollout", "undo", "statefulset/db")

        async def rolled_back() -> bool:
            # the first template's ControllerRevision comes back (renumbered), so the pods carry its name
            current, update = await revision_names(store)
            return current == update == first and await all_running(store, revision=first)
        await wait(rolled_back, 180, message=f"every pod back on {first} (from {second})")
        for name, pod in (await live_pods(store)).items():
            assert not pod.spec.containers[0].env, (name, pod.spec.containers[0].env)
        status = await kubectl("rollout", "status", "statefulset/db", "--timeout=30s")
        assert "complete" in status.stdout or "rolling update complete" in status.stdout, status.stdout
        assert {name: data_of(docker_client, docker_node, name) for name in NAMES} == before
    finally:
        await store.delete(STATEFULSETS, "db", "default")
        for directory in directories:  # the provisioner's directories on this machine
            shutil.rmtree(directory, ignore_errors=True)
