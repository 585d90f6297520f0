"""Pod lifecycle on the sim runtime against a real etcd: registration, running, restarts,
completion, deletion, image errors."""

from __future__ import annotations

from typing import Any

from kubelite.api.core import Container, EnvVar, Pod, PodCondition, PodSpec
from kubelite.api.errors import ApiError
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import EVENTS, LEASES, NODES, PODS
from kubelite.etcd.ops import range_
from kubelite.api.core import Taint
from kubelite.node.agent_auth import agent_endpoint
from kubelite.storage.store import Store
from tests.helpers import wait_for

from agent.runtime.base import LABEL_CONTAINER, RuntimeEvent
from agent.runtime.sim import SimRuntime

from tests.agent.conftest import StartAgent


def sim_pod(name: str, node: str, *, restart_policy: str | None = None, image: str = "kubelite/demo:latest",
            env: dict[str, str] | None = None, containers: int = 1, **spec: Any) -> Pod:
    envs = [EnvVar(name=k, value=v) for k, v in (env or {}).items()] or None
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodSpec(
            containers=[Container(name=f"c{i}" if i else "main", image=image, env=envs) for i in range(containers)],
            node_name=node, restart_policy=restart_policy, **spec,
        ),
    )


async def phase_of(store: Store, name: str) -> str:
    pod = await store.get(PODS, name, "default")
    return pod.phase


async def wait_phase(store: Store, name: str, phase: str, timeout: float = 10.0) -> Pod:
    async def check() -> Pod | None:
        pod = await store.get(PODS, name, "default")
        return pod if pod.phase == phase else None
    return await wait_for(check, timeout, message=f"pod {name} {phase}")


async def test_node_registers_with_labels_taints_capacity_and_lease(store: Store, start_agent: StartAgent,
                                                                   node_name: str) -> None:
    agent = await start_agent(node_name, labels={"zone": "a"},
                              taints=(Taint(key="dedicated", value="x", effect="NoSchedule"),), cpu="3")
    node = await store.get(NODES, node_name)
    assert node.metadata.labels["kubernetes.io/hostname"] == node_name
    assert node.metadata.labels["zone"] == "a"
    assert [(t.key, t.value, t.effect) for t in node.taints] == [("dedicated", "x", "NoSchedule")]
    assert node.status.capacity["cpu"] == "3" and node.status.allocatable["pods"] == "110"
    assert node.status.capacity["memory"].endswith("Ki")
    assert node.is_ready()
    assert node.status.condition("Ready").last_heartbeat_time is not None
    assert {"type": "InternalIP", "address": "127.0.0.1"} in [a.to_dict() for a in node.status.addresses]
    # The API's address is reported as a kubelet's: status only (never an annotation anyone may set).
    assert agent_endpoint(node_name, node.status) == agent.api.endpoint
    assert "kubelite.io/agent-endpoint" not in (node.metadata.annotations or {})
    assert node.status.node_info.container_runtime_version == "sim://1.0"
    lease = await store.get(LEASES, node_name, "kube-node-lease")
    assert lease.spec.holder_identity == node_name
    raw = await range_(store.client, LEASES.key(node_name, "kube-node-lease"), what="lease")
    assert raw.kvs[0].lease == agent.node.session.lease_id != 0


async def test_pod_runs_and_reports_status(store: Store, start_agent: StartAgent, node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, sim_pod("web", node_name, containers=2))
    pod = await wait_phase(store, "web", "Running")
    pod = await wait_for(lambda: _ready(store, "web"), 5, message="Ready")
    status = pod.status
    assert status.host_ip == "127.0.0.1" and status.pod_ip and status.start_time
    assert [c.name for c in status.container_statuses] == ["main", "c1"]
    for cs in status.container_statuses:
        assert cs.ready and cs.state.running and cs.restart_count == 0 and cs.container_id.startswith("sim://")
        assert cs.image == "kubelite/demo:latest"
    types = {c.type: c.status for c in status.conditions}
    assert types == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    names = sorted(c.labels[LABEL_CONTAINER] for c in runtime.containers_info())
    assert names == ["POD", "c1", "main"]


async def _ready(store: Store, name: str) -> Pod | None:
    pod = await store.get(PODS, name, "default")
    return pod if pod.is_ready() else None


async def test_crashing_container_is_restarted_with_crashloop_backoff(store: Store, start_agent: StartAgent,
                                                                     node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime, backoff_initial=1.0)
    await store.create(PODS, sim_pod("crash", node_name, env={"SIM_EXIT_AFTER": "0.05", "SIM_EXIT_CODE": "2"}))

    async def restarted(count: int) -> Pod | None:
        pod = await store.get(PODS, "crash", "default")
        statuses = pod.status.container_statuses if pod.status else None
        return pod if statuses and statuses[0].restart_count >= count else None

    await wait_for(lambda: restarted(2), 10, message="two restarts")

    async def in_backoff() -> Pod | None:
        pod = await store.get(PODS, "crash", "default")
        cs = pod.status.container_statuses[0]
        return pod if cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff" else None

    pod = await wait_for(in_backoff, 10, message="CrashLoopBackOff")
    cs = pod.status.container_statuses[0]
    assert cs.last_state.terminated.exit_code == 2 and cs.last_state.terminated.reason == "Error"
    assert pod.phase == "Running"  # restartPolicy Always: a crash-looping pod stays Running
    events = await store.list(EVENTS, "default")
    assert "BackOff" in {e.reason for e in events.items}


async def test_restart_policies_never_onfailure_always(store: Store, start_agent: StartAgent,
                                                       node_name: str) -> None:
    await start_agent(node_name)
    crash = {"SIM_EXIT_AFTER": "0.05", "SIM_EXIT_CODE": "3"}
    ok = {"SIM_EXIT_AFTER": "0.05", "SIM_EXIT_CODE": "0"}
    await store.create(PODS, sim_pod("never-fails", node_name, restart_policy="Never", env=crash))
    await store.create(PODS, sim_pod("never-ok", node_name, restart_policy="Never", env=ok))
    await store.create(PODS, sim_pod("onfailure-ok", node_name, restart_policy="OnFailure", env=ok))
    await store.create(PODS, sim_pod("onfailure-fails", node_name, restart_policy="OnFailure", env=crash))
    await store.create(PODS, sim_pod("always-ok", node_name, restart_policy="Always", env=ok))
    failed = await wait_phase(store, "never-fails", "Failed")
    assert failed.status.container_statuses[0].state.terminated.exit_code == 3
    assert failed.status.container_statuses[0].restart_count == 0
    await wait_phase(store, "never-ok", "Succeeded")
    succeeded = await wait_phase(store, "onfailure-ok", "Succeeded")
    assert succeeded.status.container_statuses[0].restart_count == 0

    async def restarted(name: str) -> bool:
        pod = await store.get(PODS, name, "default")
        return bool(pod.status and pod.status.container_statuses
                    and pod.status.container_statuses[0].restart_count >= 1)

    await wait_for(lambda: restarted("onfailure-fails"), 10, message="OnFailure restarts a failed container")
    await wait_for(lambda: restarted("always-ok"), 10, message="Always restarts a succeeded container")
    assert await phase_of(store, "onfailure-fails") == "Running"
    assert await phase_of(store, "always-ok") == "Running"


async def test_an_oom_kill_reported_after_the_exit_updates_the_failed_pods_reason(
        store: Store, start_agent: StartAgent, node_name: str) -> None:
    # Docker 20.10 can learn of an OOM kill only after the exit (agent/runtime/docker_cache.py):
    # the runtime's later report reaches a pod that is already Failed.
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, sim_pod("late-oom", node_name, restart_policy="Never"))
    await wait_phase(store, "late-oom", "Running")
    (container,) = [c for c in runtime.containers_info() if c.labels.get(LABEL_CONTAINER) == "main"]
    runtime.exit_container(container.id, 137)
    failed = await wait_phase(store, "late-oom", "Failed")
    assert failed.status.container_statuses[0].state.terminated.reason == "Error"
    runtime.report_oom(container.id)

    async def oom_killed() -> Pod | None:
        pod = await store.get(PODS, "late-oom", "default")
        terminated = pod.status.container_statuses[0].state.terminated
        return pod if terminated is not None and terminated.reason == "OOMKilled" else None

    pod = await wait_for(oom_killed, 10, message="the late OOM report reaches the pod's status")
    assert pod.phase == "Failed" and pod.status.container_statuses[0].state.terminated.exit_code == 137


async def test_graceful_delete_stops_containers_then_deletes_the_key(store: Store, start_agent: StartAgent,
                                                                     node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, sim_pod("gone", node_name))
    await wait_phase(store, "gone", "Running")
    _, deleted_now = await store.delete(PODS, "gone", "default")
    assert not deleted_now  # a bound pod is only marked

    async def key_gone() -> bool:
        try:
            await store.get(PODS, "gone", "default")
        except ApiError as exc:  # anything else is a failure, not "not yet"
            return exc.code == 404
        return False

    await wait_for(key_gone, 10, message="pod key deleted by the agent")
    assert runtime.containers_info() == []


async def test_pod_key_removed_outright_removes_its_containers(store: Store, start_agent: StartAgent,
                                                               node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, sim_pod("vanish", node_name))
    await wait_phase(store, "vanish", "Running")
    await store.delete(PODS, "vanish", "default", grace_period_seconds=0)
    await wait_for(lambda: runtime.containers_info() == [], 10, message="containers removed")


async def test_missing_image_shows_err_image_pull_then_backoff(store: Store, start_agent: StartAgent,
                                                               node_name: str) -> None:
    runtime = SimRuntime(node=node_name, missing_images=frozenset({"nosuch/image:1"}))
    await start_agent(node_name, runtime=runtime, backoff_initial=30.0)
    await store.create(PODS, sim_pod("noimage", node_name, image="nosuch/image:1"))

    async def waiting_reason() -> str | None:
        pod = await store.get(PODS, "noimage", "default")
        statuses = pod.status.container_statuses if pod.status else None
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.reason if waiting else None

    # ErrImagePull first; any later sync within the back-off shows ImagePullBackOff.
    await wait_for(lambda: _reason_in(waiting_reason, "ErrImagePull", "ImagePullBackOff"), 10, message="pull error")
    await store.guaranteed_update(PODS, "noimage", "default", _touch)
    await wait_for(lambda: _reason_in(waiting_reason, "ImagePullBackOff"), 10, message="ImagePullBackOff")
    assert await phase_of(store, "noimage") == "Pending"
    assert runtime.pulls.count("nosuch/image:1") == 1  # no second pull within the back-off

    async def failed_events() -> set[str]:
        events = await store.list(EVENTS, "default")
        return {e.message or "" for e in events.items if e.reason == "Failed"}

    messages = await wait_for(failed_events, 5, message="Failed events")
    assert "Error: ErrImagePull" in messages
    assert any("nosuch/image:1" in m for m in messages)


def _touch(pod: Pod) -> Pod:
    pod.metadata.labels = {**(pod.metadata.labels or {}), "touched": "yes"}
    return pod


async def _reason_in(get: Any, *wanted: str) -> bool:
    return await get() in wanted


async def test_no_status_write_from_a_cache_behind_the_agents_own_write(store: Store, start_agent: StartAgent,
                                                                        node_name: str) -> None:
    """A pod queued again (its own container starts do that) while the cache still holds the version
    before the agent's status write must not write from it: a sure 409, retried into a storm on a busy
    machine (issue 12: 8,343 conflicts for 1,000 pods). The watch event of the agent's write brings the
    pod back instead. Reproduced deterministically: a sync handed the pod as first created."""
    runtime = SimRuntime(node=node_name)
    agent = await start_agent(node_name, runtime=runtime)
    created = await store.create(PODS, sim_pod("web", node_name))
    running = await wait_phase(store, "web", "Running")
    mine = await runtime.list_containers({"kubelite.pod.uid": created.metadata.uid or ""})
    assert mine and int(created.metadata.resource_version or 0) < int(running.metadata.resource_version or 0)
    before = await store.get(PODS, "web", "default")
    await agent.pods._sync("default/web", created, mine)  # the stale copy: no write, no 409
    after = await store.get(PODS, "web", "default")
    assert after.metadata.resource_version == before.metadata.resource_version and after.phase == "Running"
    assert "default/web" in agent.pods._deferred  # so the event of the agent's write brings the pod back:
    added: list[str] = []
    agent.pods.queue.add = added.append
    agent.pods._on_pod_update(_at(running, agent.pods._written["default/web"][2]), running)
    assert added == ["default/web"]


def _at(pod: Pod, revision: int) -> Pod:
    """``pod`` as if read at ``revision`` (an informer's old copy, for its update handler)."""
    return pod.model_copy(update={"metadata": pod.metadata.model_copy(update={"resource_version": str(revision)})})


async def _cached_own_write(agent: Any, key: str) -> Pod | None:
    cached, written = agent.pods.informer.get(key), agent.pods._written.get(key)
    return cached if cached is not None and written and int(cached.metadata.resource_version or 0) == written[1] else None


async def _quiet(agent: Any, key: str) -> bool:
    """The agent has its own write cached, nothing queued for the pod and no sync of it running."""
    queue = agent.pods.queue
    return await _cached_own_write(agent, key) is not None and len(queue) == 0 and not queue.is_processing(key)


async def test_a_pod_start_is_one_sync(store: Store, start_agent: StartAgent, node_name: str) -> None:
    """The runtime's create and start events of the containers a sync starts, and the watch event of its
    status write, come while that sync runs or after it: none of them is news, so a pod that starts is
    synced once (issue 12: every pod was synced twice)."""
    agent = await start_agent(node_name, runtime=SimRuntime(node=node_name))
    before = agent.pods.loop.reconciles
    await store.create(PODS, sim_pod("web", node_name, containers=2))
    await wait_phase(store, "web", "Running")
    await wait_for(lambda: _quiet(agent, "default/web"), 10, message="the agent's write cached, nothing queued")
    assert agent.pods.loop.reconciles - before == 1


async def test_the_event_of_the_agents_own_status_write_queues_no_sync(store: Store, start_agent: StartAgent,
                                                                       node_name: str) -> None:
    """The watch event of the agent's own status write needs no sync: the write was made from the version
    before it and changed only the status (issue 12: a second sync per pod for nothing); nor do the runtime's
    create and start events of containers the sync saw at its end. The informer's resync, an update from an
    older version (a list after a broken watch: other writers' changes may be in it), anyone else's status
    write, the event of a write that a sync saw the cache behind, and a container's exit queue the pod."""
    agent = await start_agent(node_name, runtime=SimRuntime(node=node_name))
    await store.create(PODS, sim_pod("web", node_name))
    await wait_phase(store, "web", "Running")
    own = await wait_for(lambda: _cached_own_write(agent, "default/web"), 10, message="the agent's write cached")
    base = _at(own, agent.pods._written["default/web"][2])  # the version the write was computed from
    added: list[str] = []
    agent.pods.queue.add = added.append
    agent.pods._on_pod_update(base, own)  # what the informer calls for that write's event
    assert added == []
    agent.pods._on_pod_update(own, own)  # the informer's periodic resync: the safety net always syncs
    assert added == ["default/web"]
    agent.pods._on_pod_update(_at(own, 1), own)  # from an older version: a list after a broken watch
    assert added == ["default/web"] * 2
    added.clear()

    agent.pods._deferred.add("default/web")  # a sync saw the cache behind that write
    agent.pods._on_pod_update(base, own)
    assert added == ["default/web"] and "default/web" not in agent.pods._deferred

    containers = await agent.pods.runtime.list_containers({"kubelite.pod.uid": own.metadata.uid or ""})
    main = next(c for c in containers if not c.is_sandbox)
    for action in ("create", "start"):  # what the sync saw at its end already
        agent.pods._on_runtime_event(RuntimeEvent(main.id, action, dict(main.labels)))
    assert added == ["default/web"]
    agent.pods._on_runtime_event(RuntimeEvent(main.id, "die", dict(main.labels)))  # news
    assert added == ["default/web", "default/web"]

    other = own.deep_copy()
    other.status.conditions = [*(other.status.conditions or []), PodCondition(type="example.com/Checked", status="True")]
    await store.update(PODS, other, subresource="status")  # through the informer's own watch
    # well within the informer's 10 s resync (agent_config), which would queue the pod anyway
    await wait_for(lambda: _queued_again(added), 2, message="someone else's write queues the pod")


async def _queued_again(added: list[str]) -> bool:
    return added.count("default/web") >= 3
