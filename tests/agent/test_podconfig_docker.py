"""Pod configuration on the real Docker Engine (issue 14): env from a ConfigMap, a Secret file, a
ConfigMap volume following an update (atomic swap), CreateContainerConfigError and recovery,
emptyDir shared by two containers; init containers in order, Init:Error; OOMKilled."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import docker
import pytest

from kubelite.api.core import Pod
from kubelite.api.resources import CONFIGMAPS, PODS, SECRETS
from kubelite.registry.printers import pod_status_reason
from kubelite.storage.store import Store
from tests.agent.conftest import StartAgent, docker_runtime
from tests.helpers import wait_for

from agent.runtime.base import LABEL_CONTAINER, LABEL_NODE

pytestmark = pytest.mark.docker

IMAGE = "kubelite/demo:latest"


def pod(name: str, node: str, containers: list[dict[str, Any]], **spec: Any) -> Pod:
    return Pod.model_validate({"metadata": {"name": name, "namespace": "default"},
                               "spec": {"nodeName": node, "containers": containers, **spec}})


async def until(store: Store, name: str, check: Any, timeout: float = 30.0, message: str = "") -> Pod:
    async def probe() -> Pod | None:
        current = await store.get(PODS, name, "default")
        return current if check(current) else None
    return await wait_for(probe, timeout, 0.1, message=message or f"pod {name}")


def container_of(client: docker.DockerClient, node: str, name: str) -> Any:
    found = client.containers.list(filters={"label": [f"{LABEL_NODE}={node}", f"{LABEL_CONTAINER}={name}"]})
    assert found, f"no running container {name}"
    return found[0]


def exec_out(client: docker.DockerClient, node: str, name: str, *command: str) -> str:
    result = container_of(client, node, name).exec_run(list(command))
    return result.output.decode()


def waiting(p: Pod, container: str = "app") -> tuple[str, str] | None:
    for cs in (p.status.container_statuses or []) if p.status else []:
        if cs.name == container and cs.state and cs.state.waiting:
            return cs.state.waiting.reason or "", cs.state.waiting.message or ""
    return None


async def test_config_map_env_secret_file_update_config_error_and_shared_empty_dir(
    store: Store, start_agent: StartAgent, docker_node: str, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    await start_agent(docker_node, runtime=docker_runtime(docker_node), root_dir=str(tmp_path / "root"),
                      backoff_initial=60.0, backoff_cap=120.0)
    await store.create(SECRETS, SECRETS.model.model_validate({
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"password": base64.b64encode(b"s3cret").decode()}}))
    app = {"name": "app", "image": IMAGE, "command": ["sh", "-c", "echo $(COLOR) > /shared/color; exec sleep 3600"],
           "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}}],
           "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"},
                            {"name": "settings", "mountPath": "/etc/settings"},
                            {"name": "settings", "mountPath": "/etc/color", "subPath": "color"},
                            {"name": "shared", "mountPath": "/shared"}]}
    reader = {"name": "reader", "image": IMAGE, "command": ["sleep", "3600"],
              "volumeMounts": [{"name": "shared", "mountPath": "/data"}, {"name": "mem", "mountPath": "/mem"}]}
    await store.create(PODS, pod("cfg", docker_node, [app, reader], volumes=[
        {"name": "creds", "secret": {"secretName": "creds"}},
        {"name": "settings", "configMap": {"name": "settings", "optional": True}},
        {"name": "shared", "emptyDir": {}}, {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}]))
    blocked = await until(store, "cfg", lambda p: (waiting(p) or ("",))[0] == "CreateContainerConfigError",
                          message="CreateContainerConfigError")
    assert waiting(blocked) == ("CreateContainerConfigError", 'configmap "settings" not found')

    cm = CONFIGMAPS.model.model_validate({"metadata": {"name": "settings", "namespace": "default"},
                                          "data": {"color": "blue"}})
    await store.create(CONFIGMAPS, cm)  # the watch, not the 60 s back-off, brings the container up
    await until(store, "cfg", lambda p: p.is_ready(), 30, "Ready after the ConfigMap appeared")
    assert exec_out(docker_client, docker_node, "app", "cat", "/etc/creds/password") == "s3cret"
    assert exec_out(docker_client, docker_node, "app", "sh", "-c", "echo $COLOR") == "blue\n"
    await wait_for(lambda: exec_out(docker_client, docker_node, "reader", "cat", "/data/color") == "blue\n",
                   20, 0.2, message="the app's file in the reader's emptyDir")  # one emptyDir, two containers
    df = exec_out(docker_client, docker_node, "reader", "df", "-k", "/mem").splitlines()[-1].split()
    assert df[0] == "tmpfs" and int(df[1]) == 8192  # medium Memory: a tmpfs of sizeLimit
    assert exec_out(docker_client, docker_node, "app", "df", "/etc/creds").splitlines()[-1].startswith("tmpfs")
    mode = exec_out(docker_client, docker_node, "app", "stat", "-L", "-c", "%a", "/etc/creds/password").strip()
    assert mode == "644"
    touch = exec_out(docker_client, docker_node, "app", "sh", "-c", "touch /etc/creds/x 2>&1; echo rc=$?")
    assert "read-only" in touch.lower() and "rc=1" in touch  # secret volumes are mounted read-only
    assert exec_out(docker_client, docker_node, "app", "readlink", "/etc/settings/color") == "..data/color\n"
    first = exec_out(docker_client, docker_node, "app", "readlink", "/etc/settings/..data")
    assert first.startswith("..20")  # ..YYYY_MM_DD_HH_MM_SS.<random>

    current = await store.get(CONFIGMAPS, "settings", "default")
    current.model_extra["data"] = {"color": "green"}
    await store.update(CONFIGMAPS, current)
    await wait_for(lambda: exec_out(docker_client, docker_node, "app", "cat", "/etc/settings/color") == "green",
                   30, 0.2, message="the mounted file follows the ConfigMap")
    assert exec_out(docker_client, docker_node, "app", "readlink", "/etc/settings/..data") != first  # swapped
    assert exec_out(docker_client, docker_node, "app", "cat", "/etc/color") == "blue"  # a subPath never updates
    # the env of a running container does not change (as in Kubernetes)
    assert exec_out(docker_client, docker_node, "app", "sh", "-c", "echo $COLOR") == "blue\n"
    uid = (await store.get(PODS, "cfg", "default")).metadata.uid
    pod_dir = tmp_path / "root" / "pods" / str(uid)
    assert (pod_dir / "volumes" / "kubernetes.io~empty-dir" / "shared" / "color").is_file()
    await store.delete(PODS, "cfg", "default")
    await wait_for(lambda: not pod_dir.exists(), 30, 0.2, message="the pod's directory removed with the pod")


async def test_init_containers_in_order_init_error_limits_and_oom_killed(
    store: Store, start_agent: StartAgent, docker_node: str, docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    await start_agent(docker_node, runtime=docker_runtime(docker_node), root_dir=str(tmp_path / "root"))
    work = [{"name": "work", "mountPath": "/work"}]
    inits = [{"name": f"step{i}", "image": IMAGE, "command": ["sh", "-c", f"echo step{i} >> /work/log"],
              "volumeMounts": work} for i in (1, 2)]
    app = {"name": "app", "image": IMAGE, "command": ["sleep", "3600"], "volumeMounts": work,
           "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}
    await store.create(PODS, pod("ordered", docker_node, [app], initContainers=inits,
                                 volumes=[{"name": "work", "emptyDir": {}}]))
    failing = [{"name": "check", "image": IMAGE, "command": ["sh", "-c", "exit 3"]}]
    await store.create(PODS, pod("init-fails", docker_node, [{"name": "app", "image": IMAGE, "command": ["true"]}],
                                 initContainers=failing, restartPolicy="Never"))
    hog = {"name": "hog", "image": IMAGE, "command": ["tail", "/dev/zero"],  # buffers an endless line
           "resources": {"limits": {"memory": "16Mi"}}}
    await store.create(PODS, pod("oom", docker_node, [hog], restartPolicy="Never"))

    ready = await until(store, "ordered", lambda p: p.is_ready(), 60, "initialized and Ready")
    assert exec_out(docker_client, docker_node, "app", "cat", "/work/log") == "step1\nstep2\n"
    assert [s.state.terminated.reason for s in ready.status.init_container_statuses] == ["Completed", "Completed"]
    assert ready.status.condition("Initialized").status == "True"
    host = container_of(docker_client, docker_node, "app").attrs["HostConfig"]
    assert (host["CpuQuota"], host["CpuPeriod"], host["CpuShares"], host["Memory"]) == (50_000, 100_000, 256, 64 << 20)

    failed = await until(store, "init-fails", lambda p: p.phase == "Failed", 60, "init failure fails the pod")
    init = failed.status.init_container_statuses[0]
    assert init.state.terminated.exit_code == 3 and init.state.terminated.reason == "Error"
    assert failed.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    assert pod_status_reason(failed.to_dict()) == "Init:Error"

    # OOMKilled may follow the Failed status a moment later: Docker can learn of the kill after the exit
    oom = await until(store, "oom", lambda p: p.phase == "Failed" and p.status.container_statuses[0].state.terminated
                      is not None and p.status.container_statuses[0].state.terminated.reason == "OOMKilled",
                      60, "the memory hog is killed and reported OOMKilled")
    assert oom.status.container_statuses[0].state.terminated.exit_code == 137
