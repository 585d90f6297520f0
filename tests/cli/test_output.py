"""Table rendering as kubectl prints it, client-side columns, durations (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kubelite.cli import columns, output
from kubelite.cli.output import TableOptions

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


POD_TABLE = {
    "kind": "Table", "apiVersion": "meta.k8s.io/v1",
    "columnDefinitions": [
        {"name": "Name", "type": "string", "format": "name", "priority": 0},
        {"name": "Ready", "type": "string", "priority": 0},
        {"name": "Status", "type": "string", "priority": 0},
        {"name": "Restarts", "type": "integer", "priority": 0},
        {"name": "Age", "type": "string", "priority": 0},
        {"name": "IP", "type": "string", "priority": 1},
        {"name": "Node", "type": "string", "priority": 1},
    ],
    "rows": [
        {"cells": ["web-6d4cf56db6-8xk2p", "1/1", "Running", 0, "5m", "10.0.0.2", "node-1"],
         "object": {"metadata": {"name": "web-6d4cf56db6-8xk2p", "namespace": "default", "labels": {"app": "web"}}}},
        {"cells": ["db-0", "0/1", "Pending", 12, "3h", None, None],
         "object": {"metadata": {"name": "db-0", "namespace": "prod"}}},
    ],
}


def test_table_like_kubectl() -> None:
    assert output.render_table(POD_TABLE, TableOptions()) == [
        "NAME                   READY   STATUS    RESTARTS   AGE",
        "web-6d4cf56db6-8xk2p   1/1     Running   0          5m",
        "db-0                   0/1     Pending   12         3h",
    ]


def test_wide_all_namespaces_labels() -> None:
    lines = output.render_table(POD_TABLE, TableOptions(wide=True, with_namespace=True, show_labels=True))
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "LABELS"]
    assert lines[1].split() == ["default", "web-6d4cf56db6-8xk2p", "1/1", "Running", "0", "5m", "10.0.0.2",
                                "node-1", "app=web"]
    assert lines[2].split()[-3:] == ["<none>", "<none>", "<none>"]


def test_name_prefix_and_no_headers() -> None:
    lines = output.render_table(POD_TABLE, TableOptions(name_prefix="pod/", no_headers=True))
    assert lines[0].startswith("pod/web-6d4cf56db6-8xk2p   1/1")


def test_row_printer_keeps_columns_of_the_first_rows() -> None:
    header = output.header_row(POD_TABLE, TableOptions())
    rows = output.table_rows(POD_TABLE, TableOptions())
    printer = output.RowPrinter([header, *rows])
    assert printer.line(["db-1", "1/1", "Running", "0", "1s"]) == \
        "db-1                   1/1     Running   0          1s"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45, "45s"), (119, "119s"), (120, "2m"), (330, "5m30s"), (600, "10m"), (179 * 60, "179m"),
    (3 * 3600, "3h"), (7 * 3600 + 60 * 5, "7h5m"), (30 * 3600, "30h"), (50 * 3600, "2d2h"),
    (9 * 86400, "9d"), (800 * 86400, "2y70d"), (-5, "<invalid>"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert output.human_duration(seconds) == text


def pod(name: str, *, phase: str = "Running", ready: bool = True, restarts: int = 0,
        waiting: str | None = None, deleting: bool = False) -> dict:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    meta = {"name": name, "namespace": "default", "creationTimestamp": ts(90)}
    if deleting:
        meta["deletionTimestamp"] = ts(1)
    return {"metadata": meta, "spec": {"nodeName": "node-2", "containers": [{"name": "c"}]},
            "status": {"phase": phase, "podIP": "10.1.0.5", "containerStatuses": [
                {"name": "c", "ready": ready, "restartCount": restarts, "state": state}]}}


def test_client_side_pod_columns() -> None:
    table = columns.build_table("Pod", [pod("a"), pod("b", ready=False, restarts=4, waiting="CrashLoopBackOff"),
                                        pod("c", deleting=True)], NOW)
    lines = output.render_table(table, TableOptions(wide=True))
    # kubectl's wide pod columns: the gateway's printer (kubelite.registry.printers), not a client-side copy
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                                "READINESS", "GATES"]
    assert lines[1].split() == ["a", "1/1", "Running", "0", "90s", "10.1.0.5", "node-2", "<none>", "<none>"]
    assert lines[2].split()[:4] == ["b", "0/1", "CrashLoopBackOff", "4"]
    assert lines[3].split()[2] == "Terminating"


def test_client_side_node_and_deployment_columns() -> None:
    node = {"metadata": {"name": "node-1", "creationTimestamp": ts(30)},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "kubelite-0.1"}}}
    lines = output.render_table(columns.build_table("Node", [node], NOW), TableOptions())
    assert lines == ["NAME     STATUS                     ROLES    AGE   VERSION",
                     "node-1   Ready,SchedulingDisabled   <none>   30s   kubelite-0.1"]
    dep = {"metadata": {"name": "web", "creationTimestamp": ts(200)}, "spec": {"replicas": 3},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    lines = output.render_table(columns.build_table("Deployment", [dep], NOW), TableOptions())
    assert lines[1].split() == ["web", "2/3", "3", "2", "3m20s"]


def test_yaml_json_name() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    assert output.to_yaml(obj).startswith("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n")
    assert output.as_list([obj])["kind"] == "List"
    from kubelite.cli.kinds import resolve

    assert output.object_name(resolve("deploy"), {"metadata": {"name": "web"}}) == "deployment.apps/web"  # type: ignore[arg-type]
