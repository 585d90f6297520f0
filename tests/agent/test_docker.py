"""The agent on the real runtimes (each test runs on docker and on oci): status, shared localhost,
published ports, limits, probes, restarts and back-off, image errors, graceful deletion."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubelite.api.core import (
    Container,
    ContainerPort,
    ExecAction,
    HTTPGetAction,
    Pod,
    PodSpec,
    Probe,
    ResourceRequirements,
)
from kubelite.api.errors import ApiError
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import EVENTS, PODS
from kubelite.informer import FuncHandler, Informer
from kubelite.store import Store
from tests.agent.conftest import StartAgent
from tests.agent.runtimes import RuntimeNode
from tests.helpers import wait_for

from agent.pods import HOST_PORTS_ANNOTATION

pytestmark = pytest.mark.docker

IMAGE = "kubelite/demo:latest"
HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"]


def pod(name: str, node: str, *containers: Container, **spec: Any) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="default"),
               spec=PodSpec(containers=list(containers), node_name=node, **spec))


async def get(store: Store, name: str) -> Pod:
    return await store.get(PODS, name, "default")


async def until(store: Store, name: str, check: Any, timeout: float = 20.0, message: str = "") -> Pod:
    async def probe() -> Pod | None:
        current = await get(store, name)
        return current if check(current) else None
    return await wait_for(probe, timeout, 0.1, message=message or f"pod {name}")


# The container's own cgroup files as it sees them (both runtimes mount its cgroups at /sys/fs/cgroup):
# v1 paths, else v2's.
LIMITS = ("for f in cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares memory/memory.limit_in_bytes; do"
          " cat /sys/fs/cgroup/$f 2>/dev/null; done; cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max 2>/dev/null")


async def test_pod_runs_shares_localhost_publishes_port_and_probes_readiness(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    node = runtime_node.node
    runtime = runtime_node.make()
    await start_agent(node, runtime=runtime)
    web = Container(
        name="web", image=IMAGE, command=HTTPD, ports=[ContainerPort(container_port=8080, name="http")],
        readiness_probe=Probe(http_get=HTTPGetAction(path="/index.html", port="http"), period_seconds=1),
        resources=ResourceRequirements(limits={"cpu": "500m", "memory": "64Mi"}),
    )
    # The sidecar is ready only when it reaches the web container on localhost: a shared network namespace.
    sidecar = Container(
        name="sidecar", image=IMAGE, command=["sleep", "3600"],
        env=[{"name": "GREETING", "value": "hi"}],  # type: ignore[list-item]
        readiness_probe=Probe(exec=ExecAction(command=["wget", "-qO-", "http://127.0.0.1:8080/"]), period_seconds=1),
    )
    await store.create(PODS, pod("web", node, web, sidecar))
    ready = await until(store, "web", lambda p: p.is_ready(), 30, "Ready")
    status = ready.status
    assert status.phase == "Running" and status.pod_ip and status.host_ip == "127.0.0.1" and status.start_time
    for cs in status.container_statuses:
        assert cs.ready and cs.state.running and cs.container_id.startswith(f"{runtime_node.kind}://") and cs.image_id
    ports = json.loads(ready.metadata.annotations[HOST_PORTS_ANNOTATION])
    assert ports[0]["container"] == "web" and ports[0]["containerPort"] == 8080 and ports[0]["hostIP"] == "127.0.0.1"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{ports[0]['hostPort']}/") as response:
            assert response.status == 200 and "kubelite demo" in await response.text()
    async with aiohttp.ClientSession() as http:  # the pod IP is reachable from the node
        async with http.get(f"http://{status.pod_ip}:8080/") as response:
            assert response.status == 200
    containers = {c.container_name: c for c in await runtime_node.containers()}
    assert set(containers) == {"POD", "web", "sidecar"}
    assert containers["web"].network_of == containers["POD"].id == containers["sidecar"].network_of
    # the kubelet's CFS quota: 500m = 50 ms per 100 ms period; the request (defaulted to the limit) → shares;
    # the memory limit (read inside the container: what the kernel enforces)
    limits = (await runtime.exec(containers["web"].id, ["sh", "-c", LIMITS], timeout=10)).output.decode().split()
    v1 = ["50000", "100000", "512", str(64 << 20)]
    assert limits in (v1, ["50000", "100000", str(64 << 20)]), limits  # v2 has no shares file to compare
    env = await runtime.exec(containers["sidecar"].id, ["sh", "-c", "echo $GREETING"], timeout=10)
    assert env.output == b"hi\n"


async def test_liveness_failure_restarts_the_container(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    node = runtime_node.node
    await start_agent(node, runtime=runtime_node.make())
    # Healthy for ~1 s (the file exists), then the liveness probe fails.
    app = Container(
        name="app", image=IMAGE, command=["sh", "-c", "touch /tmp/ok; sleep 1; rm /tmp/ok; exec sleep 3600"],
        liveness_probe=Probe(exec=ExecAction(command=["test", "-f", "/tmp/ok"]), period_seconds=1,
                             failure_threshold=1),
    )
    await store.create(PODS, pod("live", node, app, termination_grace_period_seconds=1))
    restarted = await until(store, "live", lambda p: _restarts(p) >= 1, 30, "restart after liveness failure")
    cs = restarted.status.container_statuses[0]
    assert cs.last_state.terminated is not None

    async def reasons() -> set[str]:
        events = await store.list(EVENTS, "default")
        found = {e.reason for e in events.items if e.involved_object.name == "live"}
        return found if {"Unhealthy", "Killing"} <= found else set()

    await wait_for(reasons, 10, message="Unhealthy and Killing events")


def _restarts(p: Pod) -> int:
    statuses = p.status.container_statuses if p.status else None
    return statuses[0].restart_count if statuses else 0


def _waiting(p: Pod) -> str | None:
    statuses = p.status.container_statuses if p.status else None
    waiting = statuses[0].state.waiting if statuses and statuses[0].state else None
    return waiting.reason if waiting else None


async def test_crash_loop_backoff_grows(store: Store, start_agent: StartAgent, runtime_node: RuntimeNode) -> None:
    node = runtime_node.node
    agent = await start_agent(node, runtime=runtime_node.make(), backoff_initial=1.0, backoff_cap=4.0)
    await store.create(PODS, pod("crash", node, Container(name="app", image=IMAGE,
                                                                  command=["sh", "-c", "echo boom; exit 3"])))
    p = await until(store, "crash", lambda p: _restarts(p) >= 3 and _waiting(p) == "CrashLoopBackOff", 40,
                    "third restart in CrashLoopBackOff")
    cs = p.status.container_statuses[0]
    assert cs.last_state.terminated.exit_code == 3 and cs.last_state.terminated.reason == "Error"
    assert p.phase == "Running"
    entry = agent.pods.backoff.entries[f"{p.metadata.uid}/app"]
    # The schedule (0, 1, 2, 4 capped): after three restarts the next wait is the cap.
    assert entry.delay == 4.0
    assert "back-off 4s restarting failed container=app" in (cs.state.waiting.message or "")


async def test_restart_policies(store: Store, start_agent: StartAgent, runtime_node: RuntimeNode) -> None:
    node = runtime_node.node
    await start_agent(node, runtime=runtime_node.make(), backoff_initial=1.0)
    fail = Container(name="app", image=IMAGE, command=["sh", "-c", "exit 4"])
    ok = Container(name="app", image=IMAGE, command=["true"])
    await store.create(PODS, pod("never", node, fail, restart_policy="Never"))
    await store.create(PODS, pod("onfailure", node, ok, restart_policy="OnFailure"))
    await store.create(PODS, pod("onfailure-fails", node, fail, restart_policy="OnFailure"))
    never = await until(store, "never", lambda p: p.phase == "Failed", 30)
    assert never.status.container_statuses[0].state.terminated.exit_code == 4
    assert _restarts(never) == 0 and not never.is_ready()
    done = await until(store, "onfailure", lambda p: p.phase == "Succeeded", 30)
    assert done.status.container_statuses[0].state.terminated.reason == "Completed"
    await until(store, "onfailure-fails", lambda p: _restarts(p) >= 1 and p.phase == "Running", 30)


async def test_missing_image_is_err_image_pull_then_backoff(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    node = runtime_node.node
    await start_agent(node, runtime=runtime_node.make(), backoff_initial=30.0)
    await store.create(PODS, pod("noimage", node, Container(name="app", image="kubelite/nosuch:1.0")))
    await until(store, "noimage", lambda p: _waiting(p) in ("ErrImagePull", "ImagePullBackOff"), 20, "pull error")
    # A later sync within the back-off shows ImagePullBackOff.
    await store.guaranteed_update(PODS, "noimage", "default", _label)
    p = await until(store, "noimage", lambda p: _waiting(p) == "ImagePullBackOff", 20, "ImagePullBackOff")
    assert p.phase == "Pending" and "kubelite/nosuch:1.0" in (p.status.container_statuses[0].state.waiting.message or "")


def _label(p: Pod) -> Pod:
    p.metadata.labels = {"touched": "1"}
    return p


async def test_graceful_delete_sigterm_then_sigkill_after_grace(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    node = runtime_node.node
    await start_agent(node, runtime=runtime_node.make())
    stubborn = Container(name="app", image=IMAGE, command=["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"])
    polite = Container(name="polite", image=IMAGE, command=["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"])
    await store.create(PODS, pod("bye", node, stubborn, polite, termination_grace_period_seconds=2))
    await until(store, "bye", lambda p: p.is_ready(), 30, "Ready")
    seen: list[Pod] = []  # every version of the pod, the last one as it was deleted
    informer = Informer(store, PODS, namespace="default")
    informer.add_handler(FuncHandler(update=lambda _old, new: seen.append(new), delete=seen.append))
    await informer.start()
    await informer.wait_synced(10)
    started = time.monotonic()
    await store.delete(PODS, "bye", "default")

    async def key_gone() -> bool:
        try:
            await get(store, "bye")
        except ApiError as exc:  # anything else is a failure, not "not yet"
            return exc.code == 404
        return False

    try:
        await wait_for(key_gone, 20, 0.1, message="pod key deleted")
    finally:
        await informer.stop()
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 10, elapsed  # the stubborn container needed the SIGKILL after the 2 s grace
    assert await runtime_node.containers() == []
    # what clients saw meanwhile: not ready while stopping, then the real exit states (kubelet-like)
    mine = [p for p in seen if p.name == "bye" and p.metadata.deletion_timestamp is not None]
    assert any(p.status.condition("Ready").status == "False" and not p.status.container_statuses[0].state.terminated
               for p in mine), "no Ready=False status while the containers were stopping"
    final = mine[-1]
    states = {c.name: c.state.terminated for c in final.status.container_statuses}
    assert states["polite"].reason == "Completed" and states["polite"].exit_code == 0
    assert states["app"].reason == "Error" and states["app"].exit_code == 137  # SIGKILLed after the grace
    assert final.phase == "Failed"


STATUS = ("grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; id;"
          " touch /written 2>/dev/null && echo root-writable || echo root-read-only")


def _status_of(output: bytes) -> dict[str, str]:
    lines = output.decode().splitlines()
    fields = dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    fields["id"] = next(line for line in lines if line.startswith("uid="))
    fields["root"] = lines[-1]
    return fields


def _host_lacks_capabilities() -> bool:
    """This machine's root may run with a bounding set short of some capability (a sandboxed host):
    Docker 20.10 then cannot start a privileged container (it asks for every capability it knows)."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    bounding = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapBnd:"))
    return int(bounding, 16) != (1 << (last + 1)) - 1


async def test_security_context_as_the_process_sees_it(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    """/proc/self/status inside the containers: the same answers on both runtimes (agent/security.py)."""
    node = runtime_node.node
    await start_agent(node, runtime=runtime_node.make())
    restricted = {"runAsUser": 1000, "runAsGroup": 3000, "readOnlyRootFilesystem": True,
                  "allowPrivilegeEscalation": False, "seccompProfile": {"type": "RuntimeDefault"},
                  "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    for name, contexts in (("sec", (("plain", None), ("restricted", restricted))),
                           ("priv", (("privileged", {"privileged": True}),))):
        containers = [{"name": c, "image": IMAGE, "command": ["sh", "-c", STATUS],
                       **({"securityContext": context} if context else {})} for c, context in contexts]
        await store.create(PODS, Pod.model_validate({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "restartPolicy": "Never", "securityContext": {"fsGroup": 2000},
                     "containers": containers}}))
    done = await until(store, "sec", lambda p: p.phase in ("Succeeded", "Failed"), 40, "both ran")
    assert done.phase == "Succeeded", [(cs.name, cs.state) for cs in done.status.container_statuses]
    seen = {cs.name: _status_of(await runtime_node.log_text(runtime_node.container_id(cs.container_id)))
            for cs in done.status.container_statuses}
    # containerd's (and Docker's) default set, no seccomp unless asked, privileges may be gained
    assert seen["plain"]["CapEff"] == seen["plain"]["CapBnd"] == "00000000a80425fb"
    assert (seen["plain"]["NoNewPrivs"], seen["plain"]["Seccomp"]) == ("0", "0")
    assert seen["plain"]["id"].startswith("uid=0") and "2000" in seen["plain"]["id"]  # fsGroup: a supplementary group
    assert seen["plain"]["root"] == "root-writable"
    # dropped to NET_BIND_SERVICE (bit 10) alone, none effective for a non-root user; the default seccomp filter
    restricted_seen = seen["restricted"]
    assert restricted_seen["CapBnd"] == f"{1 << 10:016x}" and restricted_seen["CapEff"] == "0000000000000000"
    assert (restricted_seen["NoNewPrivs"], restricted_seen["Seccomp"]) == ("1", "2")
    assert restricted_seen["id"].startswith("uid=1000 gid=3000") and "2000" in restricted_seen["id"]
    assert restricted_seen["root"] == "root-read-only"
    if runtime_node.kind == "docker" and _host_lacks_capabilities():
        refused = await until(store, "priv", lambda p: _waiting(p) == "RunContainerError", 40, "Docker refuses")
        assert "unable to apply caps" in (refused.status.container_statuses[0].state.waiting.message or "")
        return
    # privileged: every capability this host has (CAP_SYS_ADMIN, bit 21, among them), no seccomp
    privileged = await until(store, "priv", lambda p: p.phase in ("Succeeded", "Failed"), 40, "privileged ran")
    assert privileged.phase == "Succeeded", [(cs.name, cs.state) for cs in privileged.status.container_statuses]
    cs = privileged.status.container_statuses[0]
    fields = _status_of(await runtime_node.log_text(runtime_node.container_id(cs.container_id)))
    host = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("CapBnd:"))
    assert fields["CapEff"] == fields["CapBnd"] == host and int(host, 16) & (1 << 21) and fields["Seccomp"] == "0"


async def test_cluster_first_dns_and_hostname_like_docker(
    store: Store, start_agent: StartAgent, runtime_node: RuntimeNode,
) -> None:
    """dnsPolicy ClusterFirst (the default): the cluster DNS, the kubelet's search path and ndots; the
    pod's spec.hostname for all its containers; dnsPolicy Default: the node's resolv.conf."""
    node = runtime_node.node
    runtime = runtime_node.make()
    await start_agent(node, runtime=runtime, cluster_dns="10.96.0.10")
    show = ["sh", "-c", "cat /etc/resolv.conf; echo host=$(hostname)"]
    await store.create(PODS, Pod.model_validate({
        "metadata": {"name": "dns", "namespace": "default"},
        "spec": {"nodeName": node, "restartPolicy": "Never", "hostname": "named", "containers": [
            {"name": "a", "image": IMAGE, "command": show}, {"name": "b", "image": IMAGE, "command": show}]}}))
    await store.create(PODS, Pod.model_validate({
        "metadata": {"name": "nodedns", "namespace": "default"},
        "spec": {"nodeName": node, "restartPolicy": "Never", "dnsPolicy": "Default",
                 "containers": [{"name": "a", "image": IMAGE, "command": show}]}}))
    for name in ("dns", "nodedns"):
        done = await until(store, name, lambda p: p.phase in ("Succeeded", "Failed"), 30, f"{name} ran")
        assert done.phase == "Succeeded"
        for cs in done.status.container_statuses:
            lines = set((await runtime_node.log_text(runtime_node.container_id(cs.container_id))).decode().splitlines())
            if name == "dns":
                assert {"nameserver 10.96.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local",
                        "options ndots:5", "host=named"} <= lines, lines
            else:
                assert "nameserver 10.96.0.10" not in lines and "host=nodedns" in lines, lines
