"""Graceful deletion as clients see it (sim runtime, real etcd): deletionTimestamp = delete time + grace,
the pod turns Ready=False while its containers stop, then shows their terminated states and a terminal
phase, and only then its key goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubelite.api.core import Pod
from kubelite.api.resources import PODS
from kubelite.client.informer import FuncHandler, Informer
from kubelite.storage.store import Store

from agent.runtime.sim import SimRuntime
from tests.agent.conftest import StartAgent
from tests.agent.test_sim_lifecycle import sim_pod, wait_phase
from tests.helpers import wait_for


async def test_a_deleted_pod_shows_its_termination_before_it_goes(store: Store, start_agent: StartAgent,
                                                                  node_name: str) -> None:
    runtime = SimRuntime(node=node_name)
    await start_agent(node_name, runtime=runtime)
    await store.create(PODS, sim_pod("leaving", node_name, termination_grace_period_seconds=45))
    await wait_phase(store, "leaving", "Running")
    await wait_for(lambda: _ready(store), 5, message="pod Ready before the delete")

    seen: list[Pod] = []
    gone: list[Pod] = []
    informer = Informer(store, PODS, namespace="default")
    informer.add_handler(FuncHandler(update=lambda _old, new: seen.append(new), delete=gone.append))
    await informer.start()
    await informer.wait_synced(10)
    try:
        before = datetime.now(UTC).replace(microsecond=0)
        marked, deleted_now = await store.delete(PODS, "leaving", "default")
        after = datetime.now(UTC)
        assert not deleted_now
        # Kubernetes: deletionTimestamp is the time the pod may be killed by, not the request time
        stamp = marked.metadata.deletion_timestamp
        assert marked.metadata.deletion_grace_period_seconds == 45
        assert before + timedelta(seconds=45) <= stamp <= after + timedelta(seconds=45)
        await wait_for(lambda: bool(gone), 10, message="pod key deleted by the agent")
    finally:
        await informer.stop()

    terminating = [p for p in seen if p.metadata.deletion_timestamp is not None and p.status is not None]
    not_ready = [p for p in terminating if _condition(p, "Ready") == "False"
                 and any(c.state.running for c in p.status.container_statuses or [])]
    assert not_ready, "no status with Ready=False while the container was still stopping"
    assert all(not c.ready for p in not_ready for c in p.status.container_statuses)
    final = gone[0]
    assert final.phase == "Failed" and _condition(final, "Ready") == "False"
    (status,) = final.status.container_statuses
    terminated = status.state.terminated
    assert terminated is not None and terminated.reason == "Error" and terminated.exit_code == 143
    assert terminated.finished_at is not None and status.ready is False


def _condition(pod: Pod, type_: str) -> Any:
    condition = pod.status.condition(type_) if pod.status else None
    return condition.status if condition else None


async def _ready(store: Store) -> bool:
    return _condition(await store.get(PODS, "leaving", "default"), "Ready") == "True"
