"""``kl describe``: an object (and its events) as kubectl's describers print it.
Pure: objects and a clock reading in, lines out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import yaml

from kubelite.api.rollout_annotations import revision_of
from kubelite.cli.columns import event_time
from kubelite.printers import node_status, pod_status_reason
from kubelite.cli.hostports import published_ports
from kubelite.cli.output import age, align

Obj = dict[str, Any]
Field = tuple[str, Any]  # (label, value); a list value is printed one item per line


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _pairs(mapping: dict[str, Any] | None) -> list[str]:
    return [f"{k}={v}" for k, v in sorted((mapping or {}).items())] or ["<none>"]


def _fields(fields: list[Field], indent: str = "") -> list[str]:
    """``Label:  value`` lines, values aligned like kubectl's tabwriter."""
    width = max((len(label) for label, _ in fields), default=0) + 2
    lines = []
    for label, value in fields:
        head = f"{indent}{label + ':':<{width}}"
        if isinstance(value, list):
            values = value or ["<none>"]
            lines.append(f"{head}{values[0]}".rstrip())
            lines.extend(f"{indent}{' ' * width}{v}" for v in values[1:])
        elif isinstance(value, dict):
            lines.append(f"{indent}{label}:")
            lines.extend(_yaml_block(value, indent + "  "))
        else:
            lines.append(f"{head}{'<none>' if value in (None, '') else value}".rstrip())
    return lines


def _yaml_block(value: Any, indent: str) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
    return [indent + line for line in text.splitlines()]


def _common(obj: Obj) -> list[Field]:
    meta = _meta(obj)
    fields: list[Field] = [("Name", meta.get("name"))]
    if meta.get("namespace"):
        fields.append(("Namespace", meta.get("namespace")))
    fields += [("CreationTimestamp", meta.get("creationTimestamp")), ("Labels", _pairs(meta.get("labels"))),
               ("Annotations", _pairs({k: v for k, v in (meta.get("annotations") or {}).items()
                                       if k != "kubectl.kubernetes.io/last-applied-configuration"}))]
    controller = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if controller:
        fields.append(("Controlled By", f"{controller.get('kind')}/{controller.get('name')}"))
    return fields


def _container_lines(containers: list[Obj], statuses: list[Obj], indent: str) -> list[str]:
    by_name = {s.get("name"): s for s in statuses}
    lines: list[str] = []
    for c in containers:
        lines.append(f"{indent}{c.get('name')}:")
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in c.get("ports") or []]
        host_ports = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        fields: list[Field] = [("Image", c.get("image")), ("Port", ", ".join(ports) or "<none>")]
        if host_ports:
            fields.append(("Host Port", ", ".join(host_ports)))
        if c.get("command"):
            fields.append(("Command", list(c["command"])))
        if c.get("args"):
            fields.append(("Args", list(c["args"])))
        status = by_name.get(c.get("name"))
        if status:
            state = status.get("state") or {}
            for phase, detail in state.items():
                fields.append(("State", phase.capitalize()))
                if isinstance(detail, dict):
                    fields += [(f"  {k[0].upper()}{k[1:]}", v) for k, v in detail.items()]
            fields += [("Ready", str(bool(status.get("ready")))), ("Restart Count", status.get("restartCount", 0))]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if c.get(probe):
                fields.append((probe.replace("Probe", " probe").capitalize(), _probe_text(c[probe])))
        env = [f"{e.get('name')}: {e.get('value', '')}" for e in c.get("env") or []]
        fields.append(("Environment", env or ["<none>"]))
        lines += _fields(fields, indent + "  ")
    return lines


def _probe_text(probe: Obj) -> str:
    if probe.get("httpGet"):
        how = f"http-get :{probe['httpGet'].get('port')}{probe['httpGet'].get('path', '/')}"
    elif probe.get("tcpSocket"):
        how = f"tcp-socket :{probe['tcpSocket'].get('port')}"
    elif probe.get("exec"):
        how = "exec " + str((probe["exec"] or {}).get("command"))
    else:
        how = "<unknown>"
    return (f"{how} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
            f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
            f"#failure={probe.get('failureThreshold', 3)}")


def _conditions(conditions: list[Obj], extra: str | None = None) -> list[str]:
    if not conditions:
        return ["Conditions:  <none>"]
    head = ["Type", "Status"] + ([extra] if extra else [])
    rows = [head, ["-" * len(h) for h in head]]
    rows += [[c.get("type", ""), c.get("status", "")] + ([c.get("reason") or ""] if extra else [])
             for c in conditions]
    return ["Conditions:"] + ["  " + line for line in align(rows)]


def _template_lines(template: Obj) -> list[str]:
    spec = template.get("spec") or {}
    lines = ["Pod Template:"] + _fields([("Labels", _pairs(_meta(template).get("labels")))], "  ")
    lines.append("  Containers:")
    return lines + _container_lines(spec.get("containers") or [], [], "   ")


def describe_pod(pod: Obj, now: datetime) -> list[str]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    fields = _common(pod) + [("Node", spec.get("nodeName")), ("Start Time", status.get("startTime")),
                             ("Status", pod_status_reason(pod)), ("IP", status.get("podIP")),
                             ("Host IP", status.get("hostIP"))]
    published = [f"{e.get('container')} {e.get('containerPort')}/{e['protocol']} → {e['hostIP']}:{e['hostPort']}"
                 for e in published_ports(pod)]
    if published:
        fields.append(("Published", published))
    lines = _fields(fields) + ["Containers:"]
    lines += _container_lines(spec.get("containers") or [], status.get("containerStatuses") or [], "  ")
    return lines + _conditions(status.get("conditions") or [])


def describe_deployment(dep: Obj, now: datetime, replicasets: list[Obj] | None = None) -> list[str]:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    replicas = (f"{spec.get('replicas', 1)} desired | {status.get('updatedReplicas') or 0} updated | "
                f"{status.get('replicas') or 0} total | {status.get('availableReplicas') or 0} available | "
                f"{status.get('unavailableReplicas') or 0} unavailable")
    strategy = spec.get("strategy") or {}
    fields = _common(dep) + [("Selector", ",".join(_pairs((spec.get("selector") or {}).get("matchLabels")))),
                             ("Replicas", replicas), ("StrategyType", strategy.get("type", "RollingUpdate"))]
    rolling = strategy.get("rollingUpdate") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        fields.append(("RollingUpdateStrategy", f"{rolling.get('maxUnavailable', '25%')} max unavailable, "
                                                f"{rolling.get('maxSurge', '25%')} max surge"))
    if spec.get("paused"):
        fields.append(("Paused", "true"))
    lines = _fields(fields) + _template_lines(spec.get("template") or {})
    lines += _conditions(status.get("conditions") or [], "Reason")
    if replicasets is not None:
        newest = max(replicasets, key=revision_of, default=None)
        old = [rs for rs in replicasets if rs is not newest and (rs.get("status") or {}).get("replicas")]
        lines += _fields([("OldReplicaSets", ", ".join(_rs_summary(rs) for rs in old) or "<none>"),
                          ("NewReplicaSet", _rs_summary(newest) if newest else "<none>")])
    return lines


def _rs_summary(rs: Obj) -> str:
    status = rs.get("status") or {}
    return f"{_meta(rs).get('name')} ({status.get('replicas') or 0}/{(rs.get('spec') or {}).get('replicas', 1)} replicas created)"


def describe_replicaset(rs: Obj, now: datetime) -> list[str]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    fields = _common(rs) + [
        ("Selector", ",".join(_pairs((spec.get("selector") or {}).get("matchLabels")))),
        ("Replicas", f"{status.get('replicas') or 0} current / {spec.get('replicas', 1)} desired"),
        ("Ready", status.get("readyReplicas") or 0)]
    return _fields(fields) + _template_lines(spec.get("template") or {})


def describe_node(node: Obj, now: datetime) -> list[str]:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
              for t in spec.get("taints") or []]
    fields = _common(node) + [("Status", node_status(node)), ("Taints", taints or ["<none>"]),
                              ("Unschedulable", str(bool(spec.get("unschedulable"))).lower())]
    lines = _fields(fields) + _conditions(status.get("conditions") or [], "Reason")
    lines += _fields([
        ("Addresses", [f"{a.get('type')}: {a.get('address')}" for a in status.get("addresses") or []]),
        ("Capacity", _pairs(status.get("capacity"))), ("Allocatable", _pairs(status.get("allocatable"))),
        ("System Info", _pairs(status.get("nodeInfo"))),
    ])
    return lines


def describe_generic(obj: Obj, now: datetime) -> list[str]:
    lines = _fields(_common(obj))
    for section in ("spec", "status", "data"):
        if obj.get(section):
            lines += [f"{section.capitalize()}:"] + _yaml_block(obj[section], "  ")
    return lines


DESCRIBERS: dict[str, Callable[[Obj, datetime], list[str]]] = {
    "Pod": describe_pod, "ReplicaSet": describe_replicaset, "Node": describe_node,
}


def event_lines(events: list[Obj], now: datetime) -> list[str]:
    """kubectl's ``Events:`` section, oldest first."""
    if not events:
        return ["Events:  <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----", "-------"]]
    for ev in sorted(events, key=lambda e: str(event_time(e) or "")):
        when = age(event_time(ev), now)
        count = int(ev.get("count") or 1)
        if count > 1 and ev.get("firstTimestamp"):
            when = f"{when} (x{count} over {age(ev['firstTimestamp'], now)})"
        source = ev.get("source") or {}
        origin = source.get("component") or ev.get("reportingComponent") or ""
        if source.get("host"):
            origin = f"{origin}, {source['host']}" if origin else source["host"]
        rows.append([ev.get("type") or "", ev.get("reason") or "", when, origin, ev.get("message") or ""])
    return ["Events:"] + ["  " + line for line in align(rows)]


def events_for(obj: Obj, events: list[Obj]) -> list[Obj]:
    """Events about ``obj`` (by uid when both have one, else by kind and name)."""
    meta = _meta(obj)
    kind, name, uid = obj.get("kind"), meta.get("name"), meta.get("uid")
    chosen = []
    for ev in events:
        inv = ev.get("involvedObject") or {}
        if uid and inv.get("uid"):
            if inv["uid"] == uid:
                chosen.append(ev)
        elif inv.get("name") == name and (not kind or not inv.get("kind") or inv["kind"] == kind):
            chosen.append(ev)
    return chosen
