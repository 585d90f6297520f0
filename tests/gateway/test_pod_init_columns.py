"""kubectl's READY/STATUS/RESTARTS columns for pods with init and sidecar containers
(kubelite/registry/printers.py; kubectl's printPod)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.registry.printers import pod_row, pod_status_reason

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def state(kind: str, **fields: Any) -> dict[str, Any]:
    return {kind: fields}


def pod(inits: list[dict[str, Any]], init_statuses: list[dict[str, Any]], app_statuses: list[dict[str, Any]],
        initialized: bool = False, phase: str = "Pending") -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-11-30T11:00:00Z"},
        "spec": {"initContainers": inits, "containers": [{"name": "app"}]},
        "status": {"phase": phase, "conditions": [{"type": "Initialized", "status": str(initialized)}],
                   "initContainerStatuses": init_statuses, "containerStatuses": app_statuses},
    }


INITS = [{"name": "a"}, {"name": "b"}]
APP_WAITING = [{"name": "app", "state": state("waiting", reason="PodInitializing"), "restartCount": 0}]


@pytest.mark.parametrize(("init_statuses", "want"), [
    ([{"name": "a", "state": state("running")}, {"name": "b", "state": state("waiting", reason="PodInitializing")}],
     "Init:0/2"),
    ([{"name": "a", "state": state("terminated", exitCode=0, reason="Completed")},
      {"name": "b", "state": state("running")}], "Init:1/2"),
    ([{"name": "a", "state": state("terminated", exitCode=1, reason="Error")},
      {"name": "b", "state": state("waiting", reason="PodInitializing")}], "Init:Error"),
    ([{"name": "a", "state": state("waiting", reason="CrashLoopBackOff"), "restartCount": 3},
      {"name": "b", "state": state("waiting", reason="PodInitializing")}], "Init:CrashLoopBackOff"),
    ([{"name": "a", "state": state("terminated", exitCode=7)},
      {"name": "b", "state": state("waiting", reason="PodInitializing")}], "Init:ExitCode:7"),
])
def test_status_while_initializing(init_statuses: list[dict[str, Any]], want: str) -> None:
    assert pod_status_reason(pod(INITS, init_statuses, APP_WAITING)) == want


def test_restarts_while_initializing_count_init_containers() -> None:
    row = pod_row(pod(INITS, [{"name": "a", "state": state("waiting", reason="CrashLoopBackOff"), "restartCount": 3,
                               "lastState": state("terminated", exitCode=1, finishedAt="2026-11-30T11:58:00Z")},
                              {"name": "b", "state": state("waiting", reason="PodInitializing")}], APP_WAITING), NOW)
    assert row[1:4] == ["0/1", "Init:CrashLoopBackOff", "3 (2m ago)"]


def test_initialized_pod_with_a_sidecar_counts_it_in_ready() -> None:
    doc = pod([{"name": "a"}, {"name": "proxy", "restartPolicy": "Always"}],
              [{"name": "a", "state": state("terminated", exitCode=0, reason="Completed"), "restartCount": 0},
               {"name": "proxy", "state": state("running"), "ready": True, "started": True, "restartCount": 1}],
              [{"name": "app", "state": state("running"), "ready": True, "restartCount": 0}],
              initialized=True, phase="Running")
    doc["status"]["conditions"].append({"type": "Ready", "status": "True"})
    assert pod_row(doc, NOW)[1:4] == ["2/2", "Running", "1"]


def test_sidecar_started_is_not_blocking_the_next_init() -> None:
    doc = pod([{"name": "proxy", "restartPolicy": "Always"}, {"name": "b"}],
              [{"name": "proxy", "state": state("running"), "started": True},
               {"name": "b", "state": state("running")}], APP_WAITING)
    assert pod_status_reason(doc) == "Init:1/2"
