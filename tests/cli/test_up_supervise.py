"""`kl up` supervises its children: a crashed etcd (or component) is restarted with
back-off and the workload survives; only the user's signal stops the cluster.

The end-to-end tests run the real `kl up` and SIGKILL its etcd, as the OOM
killer would."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from kubelite.cli.up_supervise import Child, RestartBackoff, Supervisor, exit_reason
from kubelite.testing import report
from tests.cli.cluster import KlUp, alive, run_sync
from tests.helpers import wait_for

# -- decisions (pure) -------------------------------------------------------


def test_backoff_doubles_caps_and_resets_after_a_stable_run() -> None:
    backoff = RestartBackoff(initial=1, cap=8, stable_after=60)
    assert [backoff.next_delay(now=10) for _ in range(5)] == [1, 2, 4, 8, 8]
    backoff.started_at = 100
    assert backoff.next_delay(now=161) == 1  # ran a minute: a fresh crash, not a crash loop


def test_exit_reasons() -> None:
    assert exit_reason(-9) == "killed by SIGKILL"
    assert exit_reason(1) == "exit code 1"


async def test_supervisor_restarts_after_the_delay_and_says_why() -> None:
    now = [0.0]
    code: list[int | None] = [None]
    starts: list[float] = []
    said: list[str] = []

    async def restart() -> None:
        starts.append(now[0])
        code[0] = None

    child = Child("etcd", lambda: code[0], restart, "/nonexistent/etcd.log")
    supervisor = Supervisor([child], said.append, clock=lambda: now[0])
    await supervisor.check()
    assert not said and not starts  # running: nothing to do
    code[0] = -9
    now[0] = 5
    await supervisor.check()
    assert said[-1].startswith("etcd killed by SIGKILL; restarting it in 1 s (restart 1)")
    now[0] = 5.5
    await supervisor.check()
    assert not starts  # the back-off is respected
    now[0] = 6
    await supervisor.check()
    assert starts == [6] and said[-1] == "etcd restarted"
    code[0] = 1  # crashes again at once: the delay doubles
    await supervisor.check()
    assert "restarting it in 2 s (restart 2)" in said[-1]


# -- end to end ---------------------------------------------------------------


def api(up: KlUp, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(up.server + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "steady"},
       "spec": {"terminationGracePeriodSeconds": 1, "containers": [
           {"name": "c", "image": "kubelite/demo:latest", "imagePullPolicy": "Never",
            "command": ["sleep", "3600"]}]}}


def pod_ready(up: KlUp, name: str = "steady") -> dict[str, Any] | None:
    pod = api(up, "GET", f"/api/v1/namespaces/default/pods/{name}")
    conditions = (pod.get("status") or {}).get("conditions") or []
    return pod if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None


def kill_etcd_and_wait_restarted(up: KlUp) -> float:
    """SIGKILL kl up's etcd; seconds until kl up said it restarted it."""
    etcd_pid = up.state["etcd_pid"]
    killed_at = time.monotonic()
    os.kill(etcd_pid, signal.SIGKILL)
    run_sync(wait_for(lambda: "etcd restarted" in up.output(), 30, message="kl up to restart etcd"))
    restarted = time.monotonic() - killed_at
    assert "etcd killed by SIGKILL; restarting it in 1 s" in up.output()
    assert up.proc is not None and up.proc.poll() is None, up.output()
    state = json.loads((up.data_dir / "up.json").read_text())
    assert state["etcd_pid"] != etcd_pid and alive(state["etcd_pid"])
    return restarted


def test_kl_up_restarts_a_killed_etcd_and_the_pod_survives(tmp_path: Path) -> None:
    up = KlUp(tmp_path / "kl", ["--runtime", "sim", "--nodes", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        api(up, "POST", "/api/v1/namespaces/default/pods", POD)
        before = run_sync(wait_for(lambda: pod_ready(up), 30, message="pod Ready"))
        agent_pid = up.state["processes"]["sim-nodes-1-1"]

        killed_at = time.monotonic()
        restarted = kill_etcd_and_wait_restarted(up)
        # The workload is untouched: same agent process (sim containers live in it), same
        # container, no restart; the gateway serves again from the restarted etcd.
        after = run_sync(wait_for(lambda: pod_ready(up), 30, message="pod Ready after etcd came back",
                                  ignore=(OSError,)))
        assert alive(agent_pid)
        assert after["status"]["containerStatuses"][0]["containerID"] == \
            before["status"]["containerStatuses"][0]["containerID"]
        assert after["status"]["containerStatuses"][0]["restartCount"] == 0
        assert "draining" not in (up.data_dir / "logs" / "sim-nodes-1-1.log").read_text()
        report("kl up (sim): embedded etcd SIGKILLed", etcd_restarted=restarted,
               pod_ready_via_gateway=time.monotonic() - killed_at, containers_lost=0)

        # A component that dies is restarted too (here the control plane: the gateway and the
        # controller-manager's process); both halves serve again: the gateway takes a pod, the scheduler
        # binds it, and it gets Ready.
        os.kill(up.state["processes"]["control-plane"], signal.SIGKILL)
        run_sync(wait_for(lambda: "control-plane restarted" in up.output(), 30, message="control plane restarted"))
        second = {**POD, "metadata": {"name": "after-restart"}}
        run_sync(wait_for(lambda: api(up, "POST", "/api/v1/namespaces/default/pods", second), 60,
                          message="the gateway takes a pod again", ignore=(OSError,)))
        run_sync(wait_for(lambda: pod_ready(up, "after-restart"), 60, message="the new pod bound and Ready",
                          ignore=(OSError,)))

        assert up.stop() == 0, up.output()  # the user's signal still stops everything
        assert "stopped: no process left" in up.output()
    finally:
        up.stop()
        up.kill_leftovers()


@pytest.mark.docker
def test_kl_up_docker_etcd_crash_keeps_containers(
    tmp_path: Path, demo_image: str, docker_client: docker.DockerClient,
) -> None:
    up = KlUp(tmp_path / "kl", ["--runtime", "docker", "--nodes", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        api(up, "POST", "/api/v1/namespaces/default/pods", POD)
        run_sync(wait_for(lambda: pod_ready(up), 60, message="pod Ready"))
        uid = up.state_now()["cluster_uid"]
        filters = {"label": ["kubelite.pod.name=steady", f"kubelite.cluster.uid={uid}"]}
        before = {c.id for c in docker_client.containers.list(filters=filters)}
        assert len(before) == 2  # sandbox + app

        killed_at = time.monotonic()
        restarted = kill_etcd_and_wait_restarted(up)
        run_sync(wait_for(lambda: pod_ready(up), 30, message="pod Ready after etcd came back",
                          ignore=(OSError,)))
        report("kl up (docker): embedded etcd SIGKILLed", etcd_restarted=restarted,
               pod_ready_via_gateway=time.monotonic() - killed_at, containers_lost=0)
        assert {c.id for c in docker_client.containers.list(filters=filters)} == before

        assert up.stop() == 0, up.output()
        assert not docker_client.containers.list(all=True, filters=filters)  # Ctrl-C still cleans up
    finally:
        up.stop()
        up.kill_leftovers()
