"""The documents behind tests/unit/printers_golden.json, and the script that wrote it.

The fixture pins the bytes kubectl gets for a Table (``as=Table``): rows of many pods, hand-written
and generated, plus a few other kinds, at two fixed "now"s. It was written ONCE, by the printers as
they stood before the Table fast path (main at fe47726), so that a faster printer has to produce
the very same bytes. Regenerate it only when a row is meant to change, and say so in the commit::

    .venv/bin/python -m tests.unit.printer_golden_corpus
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).with_name("printers_golden.json")
NOWS = ("2026-11-30T12:00:00+00:00", "2027-03-01T08:30:15.250000+00:00")
INCLUDE = ("None", "Metadata", "Object")
GENERATED_FROM = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# seconds for the human_duration sweep: every branch and its edges
DURATIONS = [-2.0, -1.5, -1.0, -0.5, -0.4, 0.0, 0.49, 0.5, 1.5, 2.5, 59.0, 119.4, 119.5, 120.0, 121.0, 599.0, 600.0,
             601.0, 10799.0, 10800.0, 10860.0, 28799.0, 28800.0, 172799.0, 172800.0, 172800.0 + 3600.0, 691199.0,
             691200.0, 63071999.0, 63072000.0, 63072000.0 + 86400.0, 252287999.0, 252288000.0, 1e10]

Doc = dict[str, Any]


def _state(kind: str, **fields: Any) -> Doc:
    return {kind: fields}


def _pod(name: str, *, status: Any = None, spec: Any = None, meta: Doc | None = None) -> Doc:
    doc: Doc = {"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-11-30T11:00:00Z",
                             "resourceVersion": "17", "uid": f"uid-{name}", **(meta or {})},
                "spec": spec if spec is not None else {"containers": [{"name": "app", "image": "img"}],
                                                       "nodeName": "node-1"}}
    if status is not None:
        doc["status"] = status
    return doc


def _running(name: str = "app", restarts: int = 0, finished: str | None = None, ready: bool = True) -> Doc:
    status: Doc = {"name": name, "ready": ready, "restartCount": restarts, "started": True,
                   "state": _state("running", startedAt="2026-11-30T11:00:05Z")}
    if finished is not None:
        status["lastState"] = _state("terminated", exitCode=1, reason="Error", finishedAt=finished)
    return status


READY = [{"type": t, "status": "True"} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
INITS = [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]
SIDECAR_SPEC = {"initContainers": [{"name": "setup"}, {"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app"}], "nodeName": "node-2"}


def hand_written_pods() -> list[Doc]:
    """One pod per rule of printPod (and per odd shape a stored document may have)."""
    running = {"phase": "Running", "podIP": "10.1.0.4", "podIPs": [{"ip": "10.1.0.4"}], "conditions": READY,
               "containerStatuses": [_running()]}
    pods = [
        {}, {"metadata": {}}, {"metadata": {"name": "only-meta"}}, {"metadata": None, "spec": None, "status": None},
        _pod("no-status"), _pod("empty-status", status={}), _pod("empty-spec", spec={}, status={"phase": "Pending"}),
        _pod("running", status=running),
        _pod("running-no-podips", status={**running, "podIPs": []}),
        _pod("podips-empty-ip", status={**running, "podIPs": [{"ip": ""}], "podIP": "10.9.9.9"}),
        _pod("gated", spec={"containers": [{"name": "app"}], "schedulingGates": [{"name": "g"}]},
             status={"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                         "reason": "SchedulingGated"}]}),
        _pod("unschedulable", status={"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
             spec={"containers": [{"name": "app"}]}),
        _pod("creating", status={"phase": "Pending", "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 0, "state": _state("waiting", reason="ContainerCreating")}]}),
        _pod("waiting-no-reason", status={"phase": "Pending", "containerStatuses": [
            {"name": "app", "state": _state("waiting")}]}),
        _pod("crashloop", status={"phase": "Running", "conditions": READY[:2], "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 7, "state": _state("waiting", reason="CrashLoopBackOff"),
             "lastState": _state("terminated", exitCode=1, reason="Error", finishedAt="2026-11-30T11:58:55Z")}]}),
        _pod("restarts-no-last", status={"phase": "Running", "containerStatuses": [_running(restarts=2)]}),
        _pod("restarts-fraction", status={"phase": "Running", "containerStatuses": [
            _running(restarts=1, finished="2026-11-30T11:59:59.999999Z")]}),
        _pod("restarts-offset", status={"phase": "Running", "containerStatuses": [
            _running(restarts=4, finished="2026-11-30T12:30:00+01:00")]}),
        _pod("restarts-future", status={"phase": "Running", "containerStatuses": [
            _running(restarts=4, finished="2026-12-30T12:30:00Z")]}),
        _pod("restarts-bad-time", status={"phase": "Running", "containerStatuses": [
            _running(restarts=4, finished="yesterday")]}),
        _pod("restarts-none", status={"phase": "Running", "containerStatuses": [
            {"name": "app", "restartCount": None, "ready": True, "state": {"running": {}}}]}),
        _pod("two-containers-latest-restart", spec={"containers": [{"name": "a"}, {"name": "b"}]},
             status={"phase": "Running", "containerStatuses": [
                 _running("a", restarts=1, finished="2026-11-30T10:00:00Z"),
                 _running("b", restarts=2, finished="2026-11-30T11:00:00Z", ready=False)]}),
        _pod("completed", status={"phase": "Succeeded", "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 0,
             "state": _state("terminated", exitCode=0, reason="Completed", finishedAt="2026-11-30T11:10:00Z")}]}),
        _pod("error", status={"phase": "Failed", "containerStatuses": [
            {"name": "app", "state": _state("terminated", exitCode=1, reason="Error")}]}),
        _pod("exit-code", status={"phase": "Failed", "containerStatuses": [
            {"name": "app", "state": _state("terminated", exitCode=3)}]}),
        _pod("exit-code-missing", status={"phase": "Failed", "containerStatuses": [
            {"name": "app", "state": _state("terminated", finishedAt="2026-11-30T11:10:00Z")}]}),
        _pod("signal", status={"phase": "Failed", "containerStatuses": [
            {"name": "app", "state": _state("terminated", exitCode=137, signal=9)}]}),
        _pod("completed-but-running", spec={"containers": [{"name": "a"}, {"name": "b"}]},
             status={"phase": "Running", "conditions": READY, "containerStatuses": [
                 _running("a"), {"name": "b", "state": _state("terminated", exitCode=0, reason="Completed")}]}),
        _pod("completed-but-not-ready", spec={"containers": [{"name": "a"}, {"name": "b"}]},
             status={"phase": "Running", "conditions": READY[:3], "containerStatuses": [
                 _running("a"), {"name": "b", "state": _state("terminated", exitCode=0, reason="Completed")}]}),
        _pod("running-not-ready", status={"phase": "Running", "containerStatuses": [_running(ready=False)]}),
        _pod("ready-running-none", status={"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": True, "state": {"running": None}}]}),
        _pod("terminating", meta={"deletionTimestamp": "2026-11-30T11:59:00Z"}, status=running),
        _pod("terminating-succeeded", meta={"deletionTimestamp": "2026-11-30T11:59:00Z"},
             status={"phase": "Succeeded", "containerStatuses": [
                 {"name": "app", "state": _state("terminated", exitCode=0, reason="Completed")}]}),
        _pod("node-lost", meta={"deletionTimestamp": "2026-11-30T11:59:00Z"},
             status={"phase": "Running", "reason": "NodeLost"}),
        _pod("evicted", status={"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
        _pod("reason-no-phase", status={"reason": "Preempting"}),
        _pod("init-0-of-2", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}],
                     "initContainerStatuses": [{"name": "a", "state": _state("running")},
                                               {"name": "b", "state": _state("waiting", reason="PodInitializing")}],
                     "containerStatuses": [{"name": "app", "state": _state("waiting", reason="PodInitializing")}]}),
        _pod("init-1-of-2", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [
                 {"name": "a", "state": _state("terminated", exitCode=0, reason="Completed")},
                 {"name": "b", "state": _state("running")}]}),
        _pod("init-error", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [
                 {"name": "a", "restartCount": 2, "state": _state("terminated", exitCode=1, reason="Error"),
                  "lastState": _state("terminated", exitCode=1, finishedAt="2026-11-30T11:50:00Z")},
                 {"name": "b", "state": _state("waiting", reason="PodInitializing")}]}),
        _pod("init-crashloop", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [
                 {"name": "a", "restartCount": 3, "state": _state("waiting", reason="CrashLoopBackOff"),
                  "lastState": _state("terminated", exitCode=1, finishedAt="2026-11-30T11:58:00Z")},
                 {"name": "b", "state": _state("waiting", reason="PodInitializing")}],
                     "containerStatuses": [{"name": "app", "restartCount": 5,
                                            "state": _state("waiting", reason="PodInitializing")}]}),
        _pod("init-exit-code", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [{"name": "a", "state": _state("terminated", exitCode=7)}]}),
        _pod("init-signal", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [
                 {"name": "a", "state": _state("terminated", exitCode=137, signal=9)}]}),
        _pod("init-terminated-no-exit", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [{"name": "a", "state": _state("terminated")}]}),
        _pod("init-waiting-image", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [
                 {"name": "a", "state": _state("waiting", reason="ImagePullBackOff")}]}),
        _pod("init-no-state", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [{"name": "a"}]}),
        _pod("init-done-initialized", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Running", "conditions": READY, "initContainerStatuses": [
                 {"name": "a", "restartCount": 1, "state": _state("terminated", exitCode=0, reason="Completed"),
                  "lastState": _state("terminated", exitCode=1, finishedAt="2026-11-30T11:00:00Z")},
                 {"name": "b", "state": _state("terminated", exitCode=0, reason="Completed")}],
                     "containerStatuses": [_running()]}),
        _pod("init-failed-but-initialized", spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Running", "conditions": READY, "initContainerStatuses": [
                 {"name": "a", "state": _state("terminated", exitCode=1, reason="Error")}],
                     "containerStatuses": [_running()]}),
        _pod("init-terminating", meta={"deletionTimestamp": "2026-11-30T11:59:00Z"},
             spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Pending", "initContainerStatuses": [{"name": "a", "state": _state("running")}]}),
        _pod("init-terminating-failed", meta={"deletionTimestamp": "2026-11-30T11:59:00Z"},
             spec={"initContainers": INITS, "containers": [{"name": "app"}]},
             status={"phase": "Failed", "initContainerStatuses": [{"name": "a", "state": _state("running")}]}),
        _pod("sidecar-starting", spec=SIDECAR_SPEC, status={"phase": "Pending", "initContainerStatuses": [
            {"name": "setup", "state": _state("terminated", exitCode=0, reason="Completed")},
            {"name": "proxy", "started": False, "state": _state("running")}]}),
        _pod("sidecar-started-app-waiting", spec=SIDECAR_SPEC, status={"phase": "Pending", "initContainerStatuses": [
            {"name": "setup", "state": _state("terminated", exitCode=0, reason="Completed")},
            {"name": "proxy", "started": True, "ready": True, "restartCount": 2, "state": _state("running"),
             "lastState": _state("terminated", exitCode=2, finishedAt="2026-11-30T11:30:00Z")}],
            "containerStatuses": [{"name": "app", "state": _state("waiting", reason="ContainerCreating")}]}),
        _pod("sidecar-running", spec=SIDECAR_SPEC, status={
            "phase": "Running", "conditions": READY, "podIP": "10.2.0.9", "initContainerStatuses": [
                {"name": "setup", "state": _state("terminated", exitCode=0, reason="Completed")},
                {"name": "proxy", "started": True, "ready": True, "restartCount": 1, "state": _state("running"),
                 "lastState": _state("terminated", exitCode=2, finishedAt="2026-11-30T11:40:00Z")}],
            "containerStatuses": [_running(restarts=3, finished="2026-11-30T11:20:00Z")]}),
        _pod("sidecar-not-ready", spec=SIDECAR_SPEC, status={
            "phase": "Running", "conditions": READY, "initContainerStatuses": [
                {"name": "setup", "state": _state("terminated", exitCode=0, reason="Completed")},
                {"name": "proxy", "started": True, "ready": False, "state": _state("running")}],
            "containerStatuses": [_running()]}),
        _pod("sidecar-crash-while-init", spec=SIDECAR_SPEC, status={"phase": "Pending", "initContainerStatuses": [
            {"name": "setup", "state": _state("terminated", exitCode=0, reason="Completed")},
            {"name": "proxy", "started": False, "restartCount": 4, "state": _state("waiting", reason="CrashLoopBackOff"),
             "lastState": _state("terminated", exitCode=1, finishedAt="2026-11-30T11:57:00Z")}]}),
        _pod("sidecar-status-unknown-name", spec=SIDECAR_SPEC, status={"phase": "Running", "initContainerStatuses": [
            {"state": _state("running"), "ready": True, "started": True}]}),
        _pod("readiness-gates", spec={"containers": [{"name": "app"}], "readinessGates": [
            {"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}, {}]},
             status={**running, "conditions": [*READY, {"type": "example.com/lb", "status": "True"},
                                               {"type": "example.com/dns", "status": "False"}]}),
        _pod("readiness-gates-no-conditions", spec={"containers": [{"name": "app"}], "readinessGates": [
            {"conditionType": "example.com/lb"}]}, status={"phase": "Pending"}),
        _pod("nominated", spec={"containers": [{"name": "app"}]},
             status={"phase": "Pending", "nominatedNodeName": "node-3"}),
        _pod("node-empty-string", spec={"containers": [{"name": "app"}], "nodeName": ""},
             status={"phase": "Pending", "nominatedNodeName": "", "podIP": ""}),
        _pod("html-and-unicode", meta={"name": "a<b>&c", "labels": {"x": "y\u2028z"}},
             status={"phase": "Failed", "reason": "Bad<&>\u2029", "containerStatuses": [
                 {"name": "app", "state": _state("waiting", reason="Weird \u00e9 \u2028 reason")}]}),
        _pod("many-containers", spec={"containers": [{"name": f"c{i}"} for i in range(5)],
                                      "initContainers": [{"name": "s", "restartPolicy": "Always"}]},
             status={"phase": "Running", "conditions": READY,
                     "initContainerStatuses": [{"name": "s", "started": True, "ready": True, "state": {"running": {}}}],
                     "containerStatuses": [_running(f"c{i}", restarts=i, ready=i % 2 == 0,
                                                    finished=f"2026-11-30T11:5{i}:00Z" if i else None)
                                           for i in range(5)]}),
    ]
    for stamp in ("2026-11-30T11:59:58Z", "2026-11-30T11:59:59.5Z", "2026-11-30T12:00:01Z", "2026-11-30T12:00:00Z",
                  "2026-11-30T11:00:00.123456789Z", "2026-11-30T12:00:00+01:00", "2026-11-30T06:00:00-05:30",
                  "2026-11-30T11:00:00", "2026-11-30 11:00:00Z", "2026-11-30", "2020-02-29T00:00:00Z",
                  "1999-12-31T23:59:59Z", "2026-11-30t11:00:00z", "not a time", "", None, 5, "2026-13-01T00:00:00Z"):
        pods.append(_pod(f"created-{stamp!s:.40}", meta={"creationTimestamp": stamp}, status=running))
    pods.append(_pod("no-creation", status=running))
    del pods[-1]["metadata"]["creationTimestamp"]
    return pods


def generated_pods(count: int, seed: int = 7) -> list[Doc]:
    """Pods drawn from the shapes above at random (a fixed seed), for combinations nobody wrote by hand."""
    rng = random.Random(seed)
    waiting = ["ContainerCreating", "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "PodInitializing",
               "CreateContainerConfigError", ""]
    terminated = ["Completed", "Error", "OOMKilled", "ContainerCannotRun", ""]

    def stamp() -> str:
        # ages on every branch of human_duration (seconds .. years), and a few in the future
        low, high = rng.choice([(-300, 0), (0, 120), (120, 600), (600, 3 * 3600), (3 * 3600, 48 * 3600),
                                (2 * 86400, 8 * 86400), (8 * 86400, 800 * 86400), (800 * 86400, 4000 * 86400)])
        moment = GENERATED_FROM - timedelta(seconds=rng.randint(low, high))
        fraction = rng.choice(["", ".5", ".123456"])
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"

    def container_status(name: str) -> Doc:
        state = rng.choice(["running", "waiting", "terminated", "none"])
        status: Doc = {"name": name, "ready": rng.random() < 0.6, "restartCount": rng.choice([0, 0, 0, 1, 5, 120]),
                       "started": rng.random() < 0.7}
        if state == "running":
            status["state"] = _state("running", startedAt=stamp())
        elif state == "waiting":
            status["state"] = _state("waiting", **({"reason": r} if (r := rng.choice(waiting)) else {}))
        elif state == "terminated":
            fields: Doc = {"exitCode": rng.choice([0, 0, 1, 2, 137])}
            if reason := rng.choice(terminated):
                fields["reason"] = reason
            if rng.random() < 0.2:
                fields["signal"] = 9
            status["state"] = _state("terminated", **fields)
        if status["restartCount"] and rng.random() < 0.8:
            status["lastState"] = _state("terminated", exitCode=1, finishedAt=stamp())
        return status

    pods = []
    for i in range(count):
        inits = [{"name": f"init-{j}", **({"restartPolicy": "Always"} if rng.random() < 0.4 else {})}
                 for j in range(rng.choice([0, 0, 0, 1, 2, 3]))]
        containers = [{"name": f"c-{j}", "image": "img"} for j in range(rng.choice([1, 1, 2, 3]))]
        spec: Doc = {"containers": containers}
        if inits:
            spec["initContainers"] = inits
        if rng.random() < 0.8:
            spec["nodeName"] = f"node-{rng.randint(0, 9)}"
        if rng.random() < 0.1:
            spec["readinessGates"] = [{"conditionType": "gate/a"}, {"conditionType": "gate/b"}]
        meta: Doc = {"creationTimestamp": stamp()}
        if rng.random() < 0.1:
            meta["deletionTimestamp"] = stamp()
        if rng.random() < 0.05:
            pods.append(_pod(f"gen-{i}", spec=spec, meta=meta))
            continue
        status: Doc = {"phase": rng.choice(["Pending", "Running", "Running", "Succeeded", "Failed"])}
        if rng.random() < 0.05:
            status["reason"] = rng.choice(["Evicted", "NodeLost", "Shutdown"])
        conditions = [{"type": t, "status": rng.choice(["True", "True", "False"])}
                      for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready", "gate/a")
                      if rng.random() < 0.8]
        if rng.random() < 0.05:
            conditions.insert(0, {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"})
        status["conditions"] = conditions
        if inits and rng.random() < 0.9:
            status["initContainerStatuses"] = [container_status(c["name"]) for c in inits]
        if rng.random() < 0.9:
            status["containerStatuses"] = [container_status(c["name"]) for c in containers]
        if rng.random() < 0.7:
            ip = f"10.244.{rng.randint(0, 9)}.{rng.randint(1, 250)}"
            status["podIP"] = ip
            if rng.random() < 0.7:
                status["podIPs"] = [{"ip": ip}]
        if rng.random() < 0.05:
            status["nominatedNodeName"] = "node-9"
        pods.append(_pod(f"gen-{i}", spec=spec, meta=meta, status=status))
    return pods


def other_kinds() -> dict[str, list[Doc]]:
    """A few objects of other kinds: they share since()/human_duration() with the pod rows."""
    created = [{"creationTimestamp": s} for s in ("2026-11-30T11:59:30Z", "2026-11-28T00:00:00Z", "2025-01-01T00:00:00Z",
                                                  "2026-11-30T11:00:00.5+02:00", "bad", "")]
    return {
        "Node": [{"metadata": {"name": f"n{i}", **c, "labels": {"node-role.kubernetes.io/control-plane": ""}},
                  "spec": {"unschedulable": i == 1},
                  "status": {"conditions": [{"type": "Ready", "status": "True" if i % 2 else "False"}],
                             "nodeInfo": {"kubeletVersion": "v1.31.0"},
                             "addresses": [{"type": "InternalIP", "address": f"10.0.0.{i}"}]}}
                 for i, c in enumerate(created)],
        "Deployment": [{"metadata": {"name": f"d{i}", **c}, "spec": {
            "replicas": i, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
                        "status": {"readyReplicas": i, "updatedReplicas": i}} for i, c in enumerate(created)],
        "Event": [{"metadata": {"name": "e1", "creationTimestamp": "2026-11-30T11:00:00Z"},
                   "firstTimestamp": "2026-11-30T11:00:00Z", "lastTimestamp": "2026-11-30T11:59:00Z", "count": 3,
                   "type": "Warning", "reason": "BackOff", "message": " Back-off <restarting> ",
                   "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet", "host": "n1"}},
                  {"metadata": {"name": "e2"}, "eventTime": "2026-11-30T11:59:59.123456Z",
                   "series": {"count": 4, "lastObservedTime": "2026-11-30T12:00:00.000001Z"}}],
        "Namespace": [{"metadata": {"name": f"ns{i}", **c}} for i, c in enumerate(created)],
        "Widget": [{"metadata": {"name": "w", "creationTimestamp": "2026-11-30T11:00:00Z"}}, {}],
    }


def corpus() -> dict[str, list[Doc]]:
    return {"Pod": [*hand_written_pods(), *generated_pods(60)], **other_kinds()}


def render_cases(docs_by_kind: dict[str, list[Doc]]) -> dict[str, str]:
    """Every case's response body (as the gateway writes a Table: render(build_table(...))), by case name."""
    from kubelite.gateway.respond import render
    from kubelite.registry.printers import build_table

    cases: dict[str, str] = {}
    for now_text in NOWS:
        now = datetime.fromisoformat(now_text).astimezone(UTC)
        for kind, docs in docs_by_kind.items():
            # the whole objects once (they are the corpus again); cells and metadata at both times
            for include in INCLUDE if now_text == NOWS[0] else INCLUDE[:2]:
                table = build_table(kind, docs, now=now, resource_version="42", continue_token="tok",
                                    include_object=include)
                cases[f"{kind}|{include}|{now_text}"] = render(table).decode()
            # a watch event's table: one object, no column definitions
            for index, doc in enumerate(docs[:80]):
                table = build_table(kind, [dict(doc)], now=now, include_object="Metadata", headers=False)
                cases[f"{kind}|watch-{index}|{now_text}"] = render({"type": "ADDED", "object": table}).decode()
    return cases


def main() -> None:
    from kubelite.util.humanize import human_duration

    docs = corpus()
    fixture = {"comment": "Generated once by the printers of main at fe47726 (before the Table fast path); "
                          "see tests/unit/printer_golden_corpus.py. Do not regenerate to make a test pass.",
               "corpus": docs, "cases": render_cases(docs),
               "human_duration": [[seconds, human_duration(seconds)] for seconds in DURATIONS]}
    FIXTURE.write_text(json.dumps(fixture, indent=None, separators=(",", ":"), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
