"""Pod configuration on the sim runtime against a real etcd: what the container would get
(env, mounts), CreateContainerConfigError and its watch-driven recovery, a failed mount."""

from __future__ import annotations

import base64
from typing import Any

from kubelite.api.core import Pod
from kubelite.api.resources import CONFIGMAPS, EVENTS, PODS, SECRETS
from kubelite.registry.printers import pod_status_reason
from kubelite.storage.store import Store
from tests.helpers import wait_for

from agent.runtime.base import LABEL_POD_NAME, FsStats
from agent.runtime.sim import SimRuntime
from tests.agent.conftest import StartAgent


def pod_doc(name: str, node: str, container: dict[str, Any], **spec: Any) -> Pod:
    return Pod.model_validate({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "kubelite/demo:latest", **container}],
                 **spec},
    })


def config_map(name: str, data: dict[str, str]) -> Any:
    return CONFIGMAPS.model.model_validate({"metadata": {"name": name, "namespace": "default"}, "data": data})


async def waiting_reason(store: Store, name: str) -> tuple[str, str] | None:
    pod = await store.get(PODS, name, "default")
    statuses = pod.status.container_statuses if pod.status else None
    waiting = statuses[0].state.waiting if statuses and statuses[0].state else None
    return (waiting.reason or "", waiting.message or "") if waiting else None


async def test_config_error_until_the_config_map_appears_then_env_and_mounts(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    # back-off far longer than the test: only the ConfigMap's watch event can make it recover in time
    await start_agent(node_name, runtime=runtime, backoff_initial=60.0, backoff_cap=120.0, resync_period=300.0)
    await store.create(SECRETS, SECRETS.model.model_validate({
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"password": base64.b64encode(b"s3cret").decode()}}))
    await store.create(PODS, pod_doc("cfg", node_name, {
        "command": ["echo", "$(COLOR)"],
        "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
        "volumeMounts": [{"name": "secret", "mountPath": "/etc/creds"},
                         {"name": "scratch", "mountPath": "/tmp/x", "subPath": "sub"}],
    }, volumes=[{"name": "secret", "secret": {"secretName": "creds"}}, {"name": "scratch", "emptyDir": {}}]))

    async def config_error() -> tuple[str, str] | None:
        why = await waiting_reason(store, "cfg")
        return why if why and why[0] == "CreateContainerConfigError" else None

    assert await wait_for(config_error, 10, message="CreateContainerConfigError") == (
        "CreateContainerConfigError", 'configmap "settings" not found')
    await store.create(CONFIGMAPS, config_map("settings", {"other": "x"}))
    assert await wait_for(lambda: _message_is(store, "couldn't find key color in ConfigMap default/settings"), 10)
    current = await store.get(CONFIGMAPS, "settings", "default")
    current.model_extra["data"] = {"color": "blue"}
    await store.update(CONFIGMAPS, current)

    async def running() -> Pod | None:
        pod = await store.get(PODS, "cfg", "default")
        return pod if pod.phase == "Running" else None

    await wait_for(running, 10, message="Running after the key appeared")
    spec = next(c.spec for c in runtime.containers.values() if c.info.container_name == "main")
    assert spec.env == {"COLOR": "blue", "PASSWORD": "s3cret", "ME": "cfg"}
    assert spec.command == ["echo", "blue"]
    mounts = {m.target: m for m in spec.mounts}
    assert mounts["/etc/creds"].read_only and "kubernetes.io~secret/secret" in mounts["/etc/creds"].source
    assert not mounts["/tmp/x"].read_only and mounts["/tmp/x"].source.endswith("kubernetes.io~empty-dir/scratch/sub")
    events = await store.list(EVENTS, "default")
    assert any(e.reason == "Failed" and 'configmap "settings" not found' in (e.message or "") for e in events.items)


async def _message_is(store: Store, message: str) -> bool:
    why = await waiting_reason(store, "cfg")
    return why is not None and why[1] == message


async def test_missing_volume_source_keeps_the_pod_container_creating_with_failed_mount(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    await start_agent(node_name, backoff_initial=60.0, backoff_cap=120.0, resync_period=300.0)
    await store.create(PODS, pod_doc("vol", node_name, {"volumeMounts": [{"name": "c", "mountPath": "/c"}]},
                                     volumes=[{"name": "c", "configMap": {"name": "later"}}]))

    async def failed_mount() -> bool:
        events = await store.list(EVENTS, "default")
        return any(e.reason == "FailedMount" and e.message == 'MountVolume.SetUp failed for volume "c" : '
                   'configmap "later" not found' for e in events.items)

    await wait_for(failed_mount, 10, message="FailedMount event")

    async def creating() -> bool:
        return await waiting_reason(store, "vol") == ("ContainerCreating", "")

    await wait_for(creating, 10, message="the container waits in ContainerCreating")
    await store.create(CONFIGMAPS, config_map("later", {"k": "v"}))

    async def running() -> bool:
        return (await store.get(PODS, "vol", "default")).phase == "Running"

    await wait_for(running, 10, message="Running once the ConfigMap exists")


def exits(after: float, code: int) -> list[dict[str, str]]:
    return [{"name": "SIM_EXIT_AFTER", "value": str(after)}, {"name": "SIM_EXIT_CODE", "value": str(code)}]


async def test_init_then_sidecar_then_app_and_the_sidecar_does_not_hold_completion(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, pod_doc("job-like", node_name, {"env": exits(0.3, 0)}, restartPolicy="Never",
                                     initContainers=[
                                         {"name": "setup", "image": "kubelite/demo:latest", "env": exits(0.05, 0)},
                                         {"name": "proxy", "image": "kubelite/demo:latest", "restartPolicy": "Always"},
                                     ]))

    async def succeeded() -> Pod | None:
        pod = await store.get(PODS, "job-like", "default")
        return pod if pod.phase == "Succeeded" else None

    done = await wait_for(succeeded, 15, message="Succeeded although the sidecar never exits by itself")
    created = sorted((c.info.created_at, c.info.container_name) for c in runtime.containers.values()
                     if c.info.container_name != "POD")
    assert [name for _, name in created] == ["setup", "proxy", "main"]
    inits = {s.name: s for s in done.status.init_container_statuses}
    assert inits["setup"].state.terminated.exit_code == 0
    assert inits["proxy"].state.terminated is not None  # stopped with the pod
    assert done.status.condition("Initialized").status == "True"


async def test_failing_init_container_crash_loops_and_blocks_the_app(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime, backoff_initial=1.0)
    await store.create(PODS, pod_doc("blocked", node_name, {}, initContainers=[
        {"name": "check", "image": "kubelite/demo:latest", "env": exits(0.02, 1)}]))

    async def crash_looping() -> Pod | None:
        pod = await store.get(PODS, "blocked", "default")
        inits = pod.status.init_container_statuses if pod.status else None
        return pod if inits and inits[0].restart_count >= 2 and pod_status_reason(pod.to_dict()) in (
            "Init:CrashLoopBackOff", "Init:Error") else None

    pod = await wait_for(crash_looping, 15, message="Init:CrashLoopBackOff")
    assert pod.phase == "Pending" and pod.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    assert not any(c.info.container_name == "main" for c in runtime.containers.values())


async def test_pod_ip_and_node_facts_in_env(store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime, cpu="3")
    await store.create(PODS, pod_doc("facts", node_name, {"env": [
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}))

    async def running() -> Pod | None:
        pod = await store.get(PODS, "facts", "default")
        return pod if pod.phase == "Running" else None

    pod = await wait_for(running, 10, message="Running")
    spec = next(c.spec for c in runtime.containers.values() if c.info.container_name == "main")
    assert spec.env == {"IP": pod.status.pod_ip, "HOST": "127.0.0.1", "CPUS": "3"}  # no limit: the node's allocatable


class StopOrder(SimRuntime):
    """The sim runtime, noting the order in which running containers are stopped."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stopped: list[str] = []

    async def stop_container(self, container_id: str, *, timeout: float) -> None:
        info = self.containers[container_id].info
        if info.state == "running":
            self.stopped.append(info.container_name)
        await super().stop_container(container_id, timeout=timeout)


async def test_deleting_a_pod_stops_sidecars_after_the_app_in_reverse_order(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = StopOrder(node=node_name)
    await start_agent(node_name, runtime=runtime)
    sidecar = {"image": "kubelite/demo:latest", "restartPolicy": "Always"}
    await store.create(PODS, pod_doc("sidecars", node_name, {}, initContainers=[
        {"name": "logs", **sidecar}, {"name": "proxy", **sidecar}]))

    async def ready() -> bool:
        return (await store.get(PODS, "sidecars", "default")).is_ready()

    await wait_for(ready, 10, message="Ready with two sidecars")
    await store.delete(PODS, "sidecars", "default")

    async def gone() -> bool:
        return not any(c.info.labels.get("kubelite.pod.name") == "sidecars" for c in runtime.containers.values())

    await wait_for(gone, 10, message="containers removed")
    assert [n for n in runtime.stopped if n != "POD"] == ["main", "proxy", "logs"]


async def test_a_pod_past_its_empty_dir_size_limit_is_evicted_without_disk_pressure(
        store: Store, start_agent: StartAgent, node_name: str, tmp_path: Any) -> None:
    plenty = FsStats(capacity_bytes=100 << 30, available_bytes=90 << 30)

    async def observe() -> dict[str, FsStats]:
        return {"nodefs.available": plenty, "imagefs.available": plenty}

    # a sim agent with a root dir writes its pods' volumes like a docker one
    await start_agent(node_name, root_dir=str(tmp_path), observe_disk=observe, eviction_interval=0.2)
    await store.create(PODS, pod_doc("scratchy", node_name, {"volumeMounts": [{"name": "s", "mountPath": "/s"}]},
                                     volumes=[{"name": "s", "emptyDir": {"sizeLimit": "64Ki"}}]))

    async def running() -> Pod | None:
        p = await store.get(PODS, "scratchy", "default")
        return p if p.phase == "Running" else None

    uid = (await wait_for(running, 10, message="Running")).metadata.uid
    (tmp_path / "pods" / str(uid) / "volumes" / "kubernetes.io~empty-dir" / "s" / "blob").write_bytes(b"x" * (256 << 10))

    async def evicted() -> Pod | None:
        p = await store.get(PODS, "scratchy", "default")
        return p if p.phase == "Failed" else None

    failed = await wait_for(evicted, 10, message="evicted for its emptyDir")
    assert failed.status.reason == "Evicted"
    assert failed.status.message == 'Usage of EmptyDir volume "s" exceeds the limit "64Ki". '


async def test_env_from_skips_invalid_keys_with_an_event(store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(CONFIGMAPS, config_map("mixed", {"GOOD": "1", "1st": "2"}))
    await store.create(PODS, pod_doc("mixed", node_name, {"envFrom": [{"configMapRef": {"name": "mixed"}}]}))

    async def warned() -> bool:
        events = await store.list(EVENTS, "default")
        return any(e.reason == "InvalidEnvironmentVariableNames" and "Keys [1st] from the EnvFrom configMap "
                   "default/mixed were skipped" in (e.message or "") for e in events.items)

    await wait_for(warned, 10, message="InvalidEnvironmentVariableNames Event")
    spec = next(c.spec for c in runtime.containers.values() if c.info.container_name == "main")
    assert spec.env == {"GOOD": "1"}


async def test_every_runtime_gets_service_variables_without_a_node_proxy(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    """The kubelet's service env comes from its own Service lister, not from kube-proxy: a sim (or oci)
    node without the iptables proxy still gives pods ``KUBERNETES_SERVICE_HOST`` and their namespace's
    Services (``enableServiceLinks``), never another namespace's."""
    from kubelite.api.resources import NAMESPACES, SERVICES

    def service(name: str, namespace: str, port: int, port_name: str | None = None) -> Any:
        return SERVICES.model.model_validate({"metadata": {"name": name, "namespace": namespace}, "spec": {
            "ports": [{"port": port, "protocol": "TCP", **({"name": port_name} if port_name else {})}]}})
    await store.create(NAMESPACES, NAMESPACES.model.model_validate({"metadata": {"name": "elsewhere"}}))
    master = await store.create(SERVICES, service("kubernetes", "default", 443, "https"))
    web = await store.create(SERVICES, service("my-web", "default", 80))
    await store.create(SERVICES, service("hidden", "elsewhere", 81))
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, pod_doc("linked", node_name, {"env": [{"name": "MY_WEB_SERVICE_PORT", "value": "mine"}]}))
    await store.create(PODS, pod_doc("unlinked", node_name, {}, enableServiceLinks=False))

    def env_of(name: str) -> dict[str, str] | None:
        for container in runtime.containers.values():
            if container.info.labels.get(LABEL_POD_NAME) == name and container.info.container_name == "main":
                return dict(container.spec.env)
        return None
    linked = await wait_for(lambda: env_of("linked"), 15, message="the linked pod's container")
    master_ip, web_ip = master.to_dict()["spec"]["clusterIP"], web.to_dict()["spec"]["clusterIP"]
    assert (linked["KUBERNETES_SERVICE_HOST"], linked["KUBERNETES_SERVICE_PORT"]) == (master_ip, "443")
    assert linked["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert linked["MY_WEB_SERVICE_HOST"] == web_ip and linked["MY_WEB_PORT"] == f"tcp://{web_ip}:80"
    assert linked["MY_WEB_SERVICE_PORT"] == "mine"  # the container's own env wins
    assert not any(key.startswith("HIDDEN_") for key in linked)
    unlinked = await wait_for(lambda: env_of("unlinked"), 15, message="the unlinked pod's container")
    assert unlinked["KUBERNETES_SERVICE_HOST"] == master_ip and "MY_WEB_SERVICE_HOST" not in unlinked
