"""kubectl-style describe output from plain dicts (no I/O)."""

from __future__ import annotations

from datetime import datetime, timezone

from kubelite.cli import describe

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)

POD = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default", "uid": "p1", "labels": {"app": "web"},
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": True, "uid": "r"}]},
    "spec": {"nodeName": "node-1", "containers": [
        {"name": "web", "image": "kubelite/demo:latest", "ports": [{"containerPort": 8080, "hostPort": 31000}],
         "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 2}}]},
    "status": {"phase": "Running", "podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "True"}],
               "containerStatuses": [{"name": "web", "ready": True, "restartCount": 1,
                                      "state": {"running": {"startedAt": "2026-11-21T11:59:00Z"}}}]},
}


def test_pod() -> None:
    text = "\n".join(describe.describe_pod(POD, NOW))
    assert "Name:" in text and "web-1" in text
    assert "Controlled By:" in text and "ReplicaSet/web-abc" in text
    assert "Host Port:" in text and "31000" in text
    assert "Restart Count:" in text
    assert "http-get :8080/" in text
    assert "Conditions:" in text and "Ready   True" in text


EVENTS = [
    {"type": "Normal", "reason": "Scheduled", "message": "Successfully assigned default/web-1 to node-1",
     "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "p1"}, "source": {"component": "scheduler"},
     "lastTimestamp": "2026-11-21T11:59:00Z"},
    {"type": "Warning", "reason": "Unhealthy", "message": "Readiness probe failed", "count": 3,
     "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "p1"}, "source": {"component": "agent", "host": "node-1"},
     "firstTimestamp": "2026-11-21T11:58:00Z", "lastTimestamp": "2026-11-21T11:59:50Z"},
    {"type": "Normal", "reason": "Other", "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "old"}},
    {"type": "Normal", "reason": "NotMine", "involvedObject": {"kind": "Pod", "name": "web-2"}},
]


def test_events_filtered_by_uid_and_rendered() -> None:
    mine = describe.events_for(POD, EVENTS)
    assert [e["reason"] for e in mine] == ["Scheduled", "Unhealthy"]
    lines = describe.event_lines(mine, NOW)
    assert lines[0] == "Events:"
    assert lines[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert "Unhealthy" in lines[4] and "10s (x3 over 2m)" in lines[4] and "agent, node-1" in lines[4]
    assert describe.event_lines([], NOW) == ["Events:  <none>"]


def test_deployment_and_generic() -> None:
    dep = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "uid": "d"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD["spec"]}},
           "status": {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}}
    text = "\n".join(describe.describe_deployment(dep, NOW, []))
    assert "2 desired | 2 updated | 2 total | 1 available | 0 unavailable" in text
    assert "RollingUpdateStrategy:" in text and "Pod Template:" in text and "NewReplicaSet:" in text
    generic = "\n".join(describe.describe_generic({"metadata": {"name": "x"}, "spec": {"a": 1}}, NOW))
    assert "Spec:\n  a: 1" in generic
