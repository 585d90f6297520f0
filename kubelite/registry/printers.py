"""``kubectl get`` tables (meta.k8s.io/v1 Table), computed as kube-apiserver does.

Pure functions of an object's JSON document and "now": the columns and cell
logic follow Kubernetes' printers (pod STATUS from container states,
"3 (5m ago)" restarts, node roles from labels, event OBJECT as kind/name,
ages like "2m5s"). The server always sends the wide columns (priority 1);
kubectl shows them for ``-o wide``.

The one set of kubectl printers: the gateway's Tables (``as=Table``) and kl's
client-side ones (:mod:`kubelite.cli.columns`) both come from here, so a
column cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.api.core import SCHEDULING_GATED
from kubelite.api.quantity import format_bytes, format_nano_cores, parse_quantity
from kubelite.util.humanize import human_duration, parse_time

Doc = dict[str, Any]
Cell = str | int


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    priority: int = 0
    format: str = ""
    description: str = ""

    def to_dict(self) -> Doc:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description or self.name, "priority": self.priority}

def _mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (documents may hold anything)."""
    return value if isinstance(value, dict) else {}



def _name_column() -> Column:
    return Column("Name", format="name", description="Name must be unique within a namespace.")


_AGE = Column("Age", description="CreationTimestamp is when the object was created.")


# -- durations and small helpers -------------------------------------------------


def since(value: Any, now: datetime) -> str:
    """translateTimestampSince: '<unknown>' for a missing time."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _meta(doc: Doc) -> Doc:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


# -- per-kind printers -------------------------------------------------------------

POD_COLUMNS = (
    _name_column(), Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been restarted and "
                                   "when the last container in this pod has restarted."),
    _AGE, Column("IP", priority=1, description="IP address allocated to the pod."),
    Column("Node", priority=1, description="Name of the node this pod is assigned to."),
    Column("Nominated Node", priority=1, description="Name of the node nominated for this pod."),
    Column("Readiness Gates", priority=1, description="Pod readiness gates."),
)


def _sidecar_names(init_containers: list[Any]) -> tuple[Any, ...]:
    """Names of the init containers with ``restartPolicy: Always`` (sidecars: they keep running beside the app)."""
    return tuple(c.get("name") for c in init_containers if c.get("restartPolicy") == "Always")


def _init_reason(init_statuses: list[Any], sidecars: tuple[Any, ...], total: int) -> str | None:
    """kubectl's printPod over initContainerStatuses: ``Init:2/3``, ``Init:Error``, ``Init:CrashLoopBackOff``,
    ``Init:ExitCode:N``; None once initialization is through (sidecars started, others exited 0)."""
    for index, container in enumerate(init_statuses):
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if container.get("name", "") in sidecars and container.get("started"):
            continue
        if terminated:
            if terminated.get("reason"):
                return f"Init:{terminated['reason']}"
            signal = terminated.get("signal")
            return f"Init:Signal:{signal}" if signal else f"Init:ExitCode:{terminated.get('exitCode')}"
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{index}/{total}"
    return None


def _pod_state(pod: Doc) -> tuple[str, str, list[Any]]:
    """READY, STATUS and the container statuses whose restarts RESTARTS counts, in one pass over the
    pod's conditions and one over its container statuses: a Table of 1,000 pods used to walk them
    six times each, and this runs for every pod of every ``kubectl get pods`` and Table watch event.
    Written out in loops (no generator expressions): each one costs more than the work it wraps."""
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    init_containers = spec.get("initContainers") or []
    sidecars = _sidecar_names(init_containers) if init_containers else ()
    init_statuses = status.get("initContainerStatuses") or []
    statuses = status.get("containerStatuses") or []
    gated = initialized = ready_condition = False
    for condition in status.get("conditions") or ():
        kind = condition.get("type")
        if kind == "PodScheduled":
            gated = gated or condition.get("reason") == SCHEDULING_GATED
        elif kind == "Initialized":
            initialized = initialized or condition.get("status") == "True"
        elif kind == "Ready":
            ready_condition = ready_condition or condition.get("status") == "True"
    ready = 0
    counted = statuses  # whose restarts count: running sidecars' and the app containers'
    if sidecars and init_statuses:
        started = [c for c in init_statuses if c.get("name", "") in sidecars]
        for container in started:
            if container.get("ready") and (container.get("state") or {}).get("running") is not None:
                ready += 1
        counted = [*started, *statuses]
    reason = SCHEDULING_GATED if gated else status.get("reason") or status.get("phase") or "Pending"
    has_running = False
    for container in reversed(statuses):
        state = container.get("state") or {}
        running = container.get("ready") and state.get("running") is not None
        if running:
            ready += 1
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif running:
            has_running = True
    ready_cell = f"{ready}/{len(spec.get('containers') or ()) + len(sidecars)}"
    init = _init_reason(init_statuses, sidecars, len(init_containers)) if init_statuses else None
    meta = pod.get("metadata")
    deleting = meta.get("deletionTimestamp") if isinstance(meta, dict) else None
    if init is not None and not initialized:  # still initializing: the init containers tell
        if deleting and status.get("phase") not in ("Succeeded", "Failed"):
            return ready_cell, "Terminating", init_statuses
        return ready_cell, init, init_statuses
    if reason == "Completed" and has_running:
        reason = "Running" if ready_condition else "NotReady"
    if deleting and status.get("reason") == "NodeLost":
        return ready_cell, "Unknown", counted
    if deleting and status.get("phase") not in ("Succeeded", "Failed"):
        return ready_cell, "Terminating", counted
    return ready_cell, str(reason), counted


def pod_status_reason(pod: Doc) -> str:
    """The STATUS column: Running, Pending, ContainerCreating, CrashLoopBackOff, Completed, Terminating,
    Init:0/2, Init:Error, Init:CrashLoopBackOff, ..."""
    return _pod_state(pod)[1]


def _restarts_cell(counted: list[Any], now: datetime) -> str:
    """RESTARTS of these container statuses: ``3``, or ``3 (5m ago)`` with the latest termination's age."""
    restarts = 0
    for container in counted:
        restarts += int(container.get("restartCount") or 0)
    if not restarts:  # no "(... ago)" to show: the termination times are not even read
        return "0"
    last = None
    for container in counted:
        finished = parse_time(_get(container, "lastState", "terminated", "finishedAt"))
        if finished and (last is None or finished > last):
            last = finished
    if last is not None:
        return f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    return str(restarts)


def pod_restarts(pod: Doc, now: datetime) -> str:
    """RESTARTS: app containers' and sidecars' restarts (all init containers' while initializing)."""
    return _restarts_cell(_pod_state(pod)[2], now)


def pod_ready(pod: Doc) -> str:
    """READY: running and ready app containers and sidecars / app containers and sidecars."""
    return _pod_state(pod)[0]


def pod_row(pod: Doc, now: datetime) -> list[Cell]:
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    meta = _meta(pod)
    pod_ips = status.get("podIPs")
    ip = (pod_ips[0].get("ip") if pod_ips else None) or status.get("podIP")
    gates = spec.get("readinessGates")
    gate_cell = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        passed = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        gate_cell = f"{passed}/{len(gates)}"
    ready, reason, counted = _pod_state(pod)
    created = parse_time(meta.get("creationTimestamp"))
    node, nominated = spec.get("nodeName"), status.get("nominatedNodeName")
    # since() and the "<none>" cells written out: this runs for every pod of a 1,000-pod ``kubectl get pods``
    return [
        meta.get("name", ""), ready, reason, _restarts_cell(counted, now),
        "<unknown>" if created is None else human_duration((now - created).total_seconds()),
        str(ip) if ip not in (None, "") else "<none>", str(node) if node not in (None, "") else "<none>",
        str(nominated) if nominated not in (None, "") else "<none>", gate_cell,
    ]


def _containers_images(template_spec: Any) -> tuple[str, str]:
    containers = (template_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def selector_string(selector: Any) -> str:
    """metav1.FormatLabelSelector: 'app=web,tier in (a,b)', '<none>' for an empty one."""
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) if parts else "<none>"


_WORKLOAD_WIDE = (
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column("Images", priority=1, description="Images referenced by each container in the template."),
    Column("Selector", priority=1, description="Label selector for pods."),
)
DEPLOYMENT_COLUMNS = (
    _name_column(), Column("Ready", description="Number of the pod with ready state"),
    Column("Up-to-date", type="string", description="Total number of non-terminated pods targeted by this "
                                                    "deployment that have the desired template spec."),
    Column("Available", type="string", description="Total number of available pods (ready for at least "
                                                   "minReadySeconds) targeted by this deployment."),
    _AGE, *_WORKLOAD_WIDE,
)


def _desired(spec: Doc) -> int:
    replicas = spec.get("replicas")
    return 1 if replicas is None else int(replicas)


def deployment_row(deploy: Doc, now: datetime) -> list[Cell]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    containers, images = _containers_images(_get(spec, "template", "spec"))
    return [
        _meta(deploy).get("name", ""), f"{int(status.get('readyReplicas') or 0)}/{_desired(spec)}",
        int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0),
        since(_meta(deploy).get("creationTimestamp"), now), containers, images, selector_string(spec.get("selector")),
    ]


REPLICASET_COLUMNS = (
    _name_column(), Column("Desired", type="integer", description="Number of desired pods."),
    Column("Current", type="integer", description="Number of actual replicas."),
    Column("Ready", type="integer", description="The number of ready replicas for this replica set."),
    _AGE, *_WORKLOAD_WIDE,
)


def replicaset_row(rs: Doc, now: datetime) -> list[Cell]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    containers, images = _containers_images(_get(spec, "template", "spec"))
    return [
        _meta(rs).get("name", ""), _desired(spec), int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0), since(_meta(rs).get("creationTimestamp"), now),
        containers, images, selector_string(spec.get("selector")),
    ]


def replicationcontroller_row(rc: Doc, now: datetime) -> list[Cell]:
    """kube's printReplicationController: a ReplicaSet's columns, the selector a label map."""
    selector = (rc.get("spec") or {}).get("selector")
    return replicaset_row(dict(rc, spec=dict(rc.get("spec") or {}, selector={"matchLabels": selector}
                                             if isinstance(selector, dict) else None)), now)


NODE_COLUMNS = (
    _name_column(), Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"), _AGE,
    Column("Version", description="Kubelet Version reported by the node."),
    Column("Internal-IP", priority=1, description="List of addresses reachable to the node"),
    Column("External-IP", priority=1, description="List of addresses reachable to the node"),
    Column("OS-Image", priority=1, description="OS Image reported by the node from /etc/os-release."),
    Column("Kernel-Version", priority=1, description="Kernel Version reported by the node."),
    Column("Container-Runtime", priority=1, description="Container Runtime Version reported by the node."),
)
_ROLE_PREFIX = "node-role.kubernetes.io/"


def node_status(node: Doc) -> str:
    ready = next((c for c in _get(node, "status", "conditions") or [] if c.get("type") == "Ready"), None)
    parts = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if _get(node, "spec", "unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Doc) -> str:
    labels = _meta(node).get("labels") or {}
    roles = set()
    for key, value in labels.items():
        if key.startswith(_ROLE_PREFIX) and key != _ROLE_PREFIX:
            roles.add(key.removeprefix(_ROLE_PREFIX))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) if roles else "<none>"


def node_row(node: Doc, now: datetime) -> list[Cell]:
    addresses = _get(node, "status", "addresses") or []

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in addresses if a.get("type") == kind), "") or "<none>"

    info = _get(node, "status", "nodeInfo") or {}
    return [
        _meta(node).get("name", ""), node_status(node), node_roles(node),
        since(_meta(node).get("creationTimestamp"), now), info.get("kubeletVersion") or "",
        address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>",
    ]


NAMESPACE_COLUMNS = (_name_column(), Column("Status", description="The status of the namespace"), _AGE)


def namespace_row(ns: Doc, now: datetime) -> list[Cell]:
    return [_meta(ns).get("name", ""), _get(ns, "status", "phase") or "Active",
            since(_meta(ns).get("creationTimestamp"), now)]


EVENT_COLUMNS = (
    Column("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
    Column("Type", description="Type of this event (Normal, Warning)."),
    Column("Reason", description="A short, machine understandable string that gives the reason for the event."),
    Column("Object", description="The object that this event is about."),
    Column("Subobject", priority=1, description="The field of the object the event is about."),
    Column("Source", priority=1, description="The component reporting this event."),
    Column("Message", description="A human-readable description of the status of this operation."),
    Column("First Seen", priority=1, description="The time at which the event was first recorded."),
    Column("Count", priority=1, description="The number of times this event has occurred."),
    Column("Name", priority=1, format="name", description="Name must be unique within a namespace."),
)


def event_row(event: Doc, now: datetime) -> list[Cell]:
    first = since(event.get("firstTimestamp"), now) if event.get("firstTimestamp") else since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = int(event.get("count") or 0) or 1
    series = event.get("series")
    if isinstance(series, dict):
        last, count = since(series.get("lastObservedTime"), now), int(series.get("count") or count)
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last, event.get("type") or "", event.get("reason") or "", target, involved.get("fieldPath") or "",
        f"{component}, {instance}" if instance else component, str(event.get("message") or "").strip(),
        first, count, _meta(event).get("name", ""),
    ]


LEASE_COLUMNS = (_name_column(), Column("Holder", description="The holder of the lease."), _AGE)


def lease_row(lease: Doc, now: datetime) -> list[Cell]:
    return [_meta(lease).get("name", ""), _get(lease, "spec", "holderIdentity") or "",
            since(_meta(lease).get("creationTimestamp"), now)]


DEFAULT_COLUMNS = (_name_column(), Column("Created At", type="date", description="When the object was created."))


def default_row(doc: Doc, now: datetime) -> list[Cell]:
    return [_meta(doc).get("name", ""), _meta(doc).get("creationTimestamp") or ""]


# the stored-only kinds users list most (kubernetes/pkg/printers/internalversion/printers.go)
CONFIGMAP_COLUMNS = (_name_column(), Column("Data", type="integer", description="Number of keys."), _AGE)
SECRET_COLUMNS = (_name_column(), Column("Type", description="The type of secret."),
                  Column("Data", type="integer", description="Number of keys."), _AGE)
SERVICEACCOUNT_COLUMNS = (_name_column(), Column("Secrets", type="integer", description="Number of secrets."), _AGE)
SERVICE_COLUMNS = (_name_column(), Column("Type"), Column("Cluster-IP"), Column("External-IP"), Column("Port(s)"),
                   _AGE, Column("Selector", priority=1))


def _count(value: Any) -> int:
    return len(value) if isinstance(value, (dict, list)) else 0


def configmap_row(cm: Doc, now: datetime) -> list[Cell]:
    return [_meta(cm).get("name", ""), _count(cm.get("data")) + _count(cm.get("binaryData")),
            since(_meta(cm).get("creationTimestamp"), now)]


def secret_row(secret: Doc, now: datetime) -> list[Cell]:
    return [_meta(secret).get("name", ""), str(secret.get("type") or ""), _count(secret.get("data")),
            since(_meta(secret).get("creationTimestamp"), now)]


def serviceaccount_row(sa: Doc, now: datetime) -> list[Cell]:
    return [_meta(sa).get("name", ""), _count(sa.get("secrets")), since(_meta(sa).get("creationTimestamp"), now)]


def _service_ports(ports: Any) -> str:
    shown = []
    for port in ports if isinstance(ports, list) else []:
        if not isinstance(port, dict):
            continue
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        shown.append(f"{port.get('port', '')}{node_port}/{port.get('protocol') or 'TCP'}")
    return ",".join(shown) or "<none>"


def service_row(svc: Doc, now: datetime) -> list[Cell]:
    spec: Doc = svc["spec"] if isinstance(svc.get("spec"), dict) else {}
    external = spec.get("externalIPs") or [i.get("ip") or i.get("hostname") for i in
                                           _get(svc, "status", "loadBalancer", "ingress") or [] if isinstance(i, dict)]
    kind = spec.get("type") or "ClusterIP"
    external_cell = ",".join(str(e) for e in external) or ("<pending>" if kind == "LoadBalancer" else "<none>")
    return [_meta(svc).get("name", ""), kind, spec.get("clusterIP") or "<none>", external_cell,
            _service_ports(spec.get("ports")), since(_meta(svc).get("creationTimestamp"), now),
            selector_string({"matchLabels": spec["selector"]}) if isinstance(spec.get("selector"), dict) else "<none>"]


ENDPOINTS_COLUMNS = (_name_column(), Column("Endpoints", description="Endpoints of the service (ready addresses)."),
                     _AGE)
ENDPOINTSLICE_COLUMNS = (_name_column(), Column("AddressType"), Column("Ports"), Column("Endpoints"), _AGE)


def _first_three(items: list[str], empty: str) -> str:
    """kubectl's "a,b,c + N more..." for endpoint lists."""
    if not items:
        return empty
    shown = ",".join(items[:3])
    return f"{shown} + {len(items) - 3} more..." if len(items) > 3 else shown


def endpoints_row(ep: Doc, now: datetime) -> list[Cell]:
    """formatEndpoints: ``ip:port`` per ready address and port (``ip`` for port-less subsets)."""
    raw = ep.get("subsets")
    subsets: list[Any] = raw if isinstance(raw, list) else []
    shown: list[str] = []
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or [] if isinstance(a, dict)]
        ports = subset.get("ports") or []
        if not ports:
            shown += addresses
        for port in ports:
            shown += [f"{ip}:{port.get('port')}" for ip in addresses]
    cell = _first_three(shown, "<none>") if subsets else "<none>"
    return [_meta(ep).get("name", ""), cell if shown or not subsets else "", since(_meta(ep).get("creationTimestamp"), now)]


def endpointslice_row(slice_: Doc, now: datetime) -> list[Cell]:
    """formatDiscoveryPorts / formatDiscoveryEndpoints: every endpoint's addresses, ready or not."""
    ports = [str(p.get("port")) if p.get("port") is not None else "<unset>"
             for p in slice_.get("ports") or [] if isinstance(p, dict)]
    addresses = [str(a) for e in slice_.get("endpoints") or [] if isinstance(e, dict) for a in e.get("addresses") or []]
    return [_meta(slice_).get("name", ""), str(slice_.get("addressType") or ""), _first_three(ports, "<unset>"),
            _first_three(addresses, "<unset>"), since(_meta(slice_).get("creationTimestamp"), now)]


JOB_COLUMNS = (
    _name_column(), Column("Status", description="Status of the job."),
    Column("Completions", description="The desired number of successfully finished pods the job should be run with."),
    Column("Duration", description="Time required to complete the job."), _AGE, *_WORKLOAD_WIDE,
)
CRONJOB_COLUMNS = (
    _name_column(), Column("Schedule", description="The schedule in Cron format."),
    Column("Timezone", description="The time zone name for the given schedule."),
    Column("Suspend", type="boolean", description="Whether subsequent executions are suspended."),
    Column("Active", type="integer", description="Active jobs."),
    Column("Last Schedule", description="The last time the job was scheduled."), _AGE, *_WORKLOAD_WIDE,
)


def _true(conditions: Any, type_: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == type_ and c.get("status") == "True" for c in conditions or [])


def job_status_cell(job: Doc) -> str:
    conditions = _get(job, "status", "conditions")
    for type_ in ("Complete", "Failed"):
        if _true(conditions, type_):
            return type_
    if _meta(job).get("deletionTimestamp"):
        return "Terminating"
    for type_ in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _true(conditions, type_):
            return type_
    return "Running"


def job_row(job: Doc, now: datetime) -> list[Cell]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, finished = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = human_duration(((finished or now) - started).total_seconds()) if started else ""
    containers, images = _containers_images(_get(spec, "template", "spec"))
    return [_meta(job).get("name", ""), job_status_cell(job), completions, duration,
            since(_meta(job).get("creationTimestamp"), now), containers, images, selector_string(spec.get("selector"))]


def cronjob_row(cronjob: Doc, now: datetime) -> list[Cell]:
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    last = since(status["lastScheduleTime"], now) if status.get("lastScheduleTime") else "<none>"
    template = _get(spec, "jobTemplate", "spec") or {}
    containers, images = _containers_images(_get(template, "template", "spec"))
    return [_meta(cronjob).get("name", ""), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            "True" if spec.get("suspend") else "False", len(status.get("active") or []), last,
            since(_meta(cronjob).get("creationTimestamp"), now), containers, images,
            selector_string(template.get("selector"))]

HPA_COLUMNS = (_name_column(), Column("Reference", description="the scale target"),
               Column("Targets", description="current/target of each metric"),
               Column("MinPods", description="lower limit of the replicas"),
               Column("MaxPods", type="integer", description="upper limit of the replicas"),
               Column("Replicas", type="integer", description="current replicas"), _AGE)
_HPA_TARGETS_SHOWN = 2


def _hpa_metric(spec: Doc, status: Doc | None) -> str:
    """One metric as kubectl's printer shows it: ``cpu: 40%/50%``, ``memory: 30Mi/64Mi``."""
    source_key = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                  "Object": "object", "External": "external"}.get(str(spec.get("type")), "")
    source = _mapping(spec.get(source_key))
    target = _mapping(source.get("target"))
    current_source = _mapping((status or {}).get(source_key))
    current = _mapping(current_source.get("current"))
    name = source.get("name") or (source.get("metric") or {}).get("name") or spec.get("type")
    if target.get("type") == "Utilization" or (target.get("averageUtilization") is not None):
        now = f"{current['averageUtilization']}%" if current.get("averageUtilization") is not None else "<unknown>"
        want = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
    else:
        key = "averageValue" if target.get("type") == "AverageValue" else "value"
        now = str(current.get(key)) if current.get(key) is not None else "<unknown>"
        want = str(target.get(key))
    return f"{name}: {now}/{want}"


def hpa_targets(spec: Doc, status: Doc) -> str:
    """The TARGETS cell: the first two metrics, then ``+ N more...`` (printers.go formatHPAMetrics)."""
    metrics = [m for m in spec.get("metrics") or [] if isinstance(m, dict)]
    if not metrics:
        return "<none>"
    current = [m for m in status.get("currentMetrics") or [] if isinstance(m, dict)]
    shown = [_hpa_metric(m, current[i] if i < len(current) else None) for i, m in enumerate(metrics)]
    text = ", ".join(shown[:_HPA_TARGETS_SHOWN])
    return f"{text} + {len(shown) - _HPA_TARGETS_SHOWN} more..." if len(shown) > _HPA_TARGETS_SHOWN else text


def hpa_row(hpa: Doc, now: datetime) -> list[Cell]:
    spec = _mapping(hpa.get("spec"))
    status = _mapping(hpa.get("status"))
    ref = _mapping(spec.get("scaleTargetRef"))
    minimum = spec.get("minReplicas")
    return [_meta(hpa).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}", hpa_targets(spec, status),
            "<unset>" if minimum is None else str(minimum), spec.get("maxReplicas", 0),
            status.get("currentReplicas", 0), since(_meta(hpa).get("creationTimestamp"), now)]


PDB_COLUMNS = (_name_column(), Column("Min Available", description="The minimum number of pods that must be available"),
               Column("Max Unavailable", description="The maximum number of pods that may be unavailable"),
               Column("Allowed Disruptions", type="integer",
                      description="Calculated number of pods that may be disrupted at this time"), _AGE)


def pdb_row(pdb: Doc, now: datetime) -> list[Cell]:
    spec = _mapping(pdb.get("spec"))
    minimum, maximum = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [_meta(pdb).get("name", ""), "N/A" if minimum is None else str(minimum),
            "N/A" if maximum is None else str(maximum), _mapping(pdb.get("status")).get("disruptionsAllowed", 0),
            since(_meta(pdb).get("creationTimestamp"), now)]


QUOTA_COLUMNS = (_name_column(), _AGE,
                 Column("Request", description="Request represents a minimum amount of cpu/memory that a container may "
                        "consume."),
                 Column("Limit", description="Limits control the maximum amount of cpu/memory that a container may use "
                        "independent of contention on the node."))


def quota_row(rq: Doc, now: datetime) -> list[Cell]:
    """printResourceQuota: ``resource: used/hard`` of each ``status.hard`` resource, sorted; ``limits.*`` in LIMIT."""
    status = _mapping(rq.get("status"))
    hard, used = _mapping(status.get("hard")), _mapping(status.get("used"))
    request: list[str] = []
    limit: list[str] = []
    for name in sorted(hard):
        (limit if name.split(".")[0] == "limits" and "." in name else request).append(
            f"{name}: {used.get(name, 0)}/{hard[name]}")
    return [_meta(rq).get("name", ""), since(_meta(rq).get("creationTimestamp"), now), ", ".join(request),
            ", ".join(limit)]


# metrics-server's table (pkg/api/table.go): usage summed over a pod's containers
METRICS_COLUMNS = (Column("Name", format="name", description="Name of the resource"),
                   Column("CPU", description="CPU usage"), Column("Memory", description="Memory usage"),
                   Column("Window", description="Interval over which metrics are calculated"))


def metrics_row(doc: Doc, now: datetime) -> list[Cell]:
    usages = [doc.get("usage") or {}] if "usage" in doc else [c.get("usage") or {} for c in doc.get("containers") or []]
    cpu = sum(parse_quantity(u.get("cpu", "0")) for u in usages)
    memory = sum(parse_quantity(u.get("memory", "0")) for u in usages)
    return [_meta(doc).get("name", ""), format_nano_cores(int(cpu * 10**9)), format_bytes(int(memory)),
            str(doc.get("window") or "")]


# apps/v1 DaemonSet, StatefulSet, ControllerRevision (printers.go printDaemonSet, printStatefulSet,
# printControllerRevision)
DAEMONSET_COLUMNS = (
    _name_column(), Column("Desired", type="integer", description="The number of nodes that should run the pod."),
    Column("Current", type="integer", description="The number of nodes running at least one daemon pod."),
    Column("Ready", type="integer", description="The number of nodes with a ready daemon pod."),
    Column("Up-to-date", type="integer", description="The number of nodes running the updated daemon pod."),
    Column("Available", type="integer", description="The number of nodes with an available daemon pod."),
    Column("Node Selector", description="The node selector of the daemon pods."),
    _AGE, *_WORKLOAD_WIDE,
)


def daemonset_row(ds: Doc, now: datetime) -> list[Cell]:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template_spec = _get(spec, "template", "spec")
    containers, images = _containers_images(template_spec)
    node_selector = (template_spec or {}).get("nodeSelector") if isinstance(template_spec, dict) else None
    shown = ",".join(f"{k}={v}" for k, v in sorted((node_selector or {}).items())) or "<none>"
    return [
        _meta(ds).get("name", ""), int(status.get("desiredNumberScheduled") or 0),
        int(status.get("currentNumberScheduled") or 0), int(status.get("numberReady") or 0),
        int(status.get("updatedNumberScheduled") or 0), int(status.get("numberAvailable") or 0), shown,
        since(_meta(ds).get("creationTimestamp"), now), containers, images, selector_string(spec.get("selector")),
    ]


STATEFULSET_COLUMNS = (
    _name_column(), Column("Ready", description="Number of the pod with ready state"), _AGE,
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column("Images", priority=1, description="Images referenced by each container in the template."),
)


def statefulset_row(sts: Doc, now: datetime) -> list[Cell]:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    containers, images = _containers_images(_get(spec, "template", "spec"))
    return [_meta(sts).get("name", ""), f"{int(status.get('readyReplicas') or 0)}/{_desired(spec)}",
            since(_meta(sts).get("creationTimestamp"), now), containers, images]


CONTROLLERREVISION_COLUMNS = (
    _name_column(), Column("Controller", description="Controller of the object."),
    Column("Revision", type="integer", description="Revision of the ControllerRevision."), _AGE,
)


def controllerrevision_row(cr: Doc, now: datetime) -> list[Cell]:
    owner = next((r for r in _meta(cr).get("ownerReferences") or [] if r.get("controller")), None)
    controller = f"{str(owner.get('kind', '')).lower()}.{str(owner.get('apiVersion', '')).split('/')[0]}/" \
                 f"{owner.get('name', '')}" if owner else "<none>"
    return [_meta(cr).get("name", ""), controller, int(cr.get("revision") or 0),
            since(_meta(cr).get("creationTimestamp"), now)]


# core/v1 PersistentVolumeClaim and PersistentVolume (printPersistentVolumeClaim, printPersistentVolume)
_ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _modes(modes: Any) -> str:
    return ",".join(_ACCESS_MODES.get(m, m) for m in modes or [] if isinstance(m, str))


PVC_COLUMNS = (
    _name_column(), Column("Status"), Column("Volume"), Column("Capacity"), Column("Access Modes"),
    Column("StorageClass"), Column("VolumeAttributesClass"), _AGE, Column("VolumeMode", priority=1),
)


def pvc_row(pvc: Doc, now: datetime) -> list[Cell]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = "Terminating" if _meta(pvc).get("deletionTimestamp") else status.get("phase") or ""
    bound = bool(spec.get("volumeName"))
    return [_meta(pvc).get("name", ""), phase, spec.get("volumeName") or "",
            ((status.get("capacity") or {}).get("storage") or "") if bound else "",
            _modes(status.get("accessModes")) if bound else "", spec.get("storageClassName") or "",
            spec.get("volumeAttributesClassName") or "<unset>", since(_meta(pvc).get("creationTimestamp"), now),
            spec.get("volumeMode") or "Filesystem"]


PV_COLUMNS = (
    _name_column(), Column("Capacity"), Column("Access Modes"), Column("Reclaim Policy"), Column("Status"),
    Column("Claim"), Column("StorageClass"), Column("VolumeAttributesClass"), Column("Reason"), _AGE,
    Column("VolumeMode", priority=1),
)


def pv_row(pv: Doc, now: datetime) -> list[Cell]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else ""
    phase = "Terminating" if _meta(pv).get("deletionTimestamp") else status.get("phase") or ""
    return [_meta(pv).get("name", ""), (spec.get("capacity") or {}).get("storage") or "",
            _modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy") or "", phase, claim,
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or "<unset>",
            status.get("reason") or "", since(_meta(pv).get("creationTimestamp"), now),
            spec.get("volumeMode") or "Filesystem"]


STORAGECLASS_COLUMNS = (
    _name_column(), Column("Provisioner"), Column("ReclaimPolicy"), Column("VolumeBindingMode"),
    Column("AllowVolumeExpansion"), _AGE,
)


def storageclass_row(sc: Doc, now: datetime) -> list[Cell]:
    name = _meta(sc).get("name", "")
    annotations = _meta(sc).get("annotations") or {}
    if "true" in (annotations.get("storageclass.kubernetes.io/is-default-class"),
                  annotations.get("storageclass.beta.kubernetes.io/is-default-class")):
        name += " (default)"
    return [name, sc.get("provisioner") or "", sc.get("reclaimPolicy") or "Delete",
            sc.get("volumeBindingMode") or "Immediate", str(bool(sc.get("allowVolumeExpansion"))).lower(),
            since(_meta(sc).get("creationTimestamp"), now)]


# -- API extension and admission kinds ---------------------------------------------------
# APIService: kube-aggregator's REST.ConvertToTable; the others: pkg/printers/internalversion.

APISERVICE_COLUMNS = (
    _name_column(), Column("Service", description="The reference to the service that hosts this API endpoint."),
    Column("Available", description="Whether this service is available."), _AGE,
)


def _condition(conditions: Any, type_: str) -> Doc | None:
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == type_), None) \
        if isinstance(conditions, list) else None


def apiservice_row(svc: Doc, now: datetime) -> list[Cell]:
    """SERVICE is ``namespace/name`` or ``Local``; AVAILABLE the Available condition's status,
    ``False (Reason)`` when not True and a reason is given, ``Unknown`` without the condition."""
    service = _get(svc, "spec", "service")
    where = f"{service.get('namespace', '')}/{service.get('name', '')}" if isinstance(service, dict) else "Local"
    available = "Unknown"
    condition = _condition(_get(svc, "status", "conditions"), "Available")
    if condition is not None:
        status, reason = str(condition.get("status") or ""), condition.get("reason")
        available = f"{status} ({reason})" if status != "True" and reason else status
    return [_meta(svc).get("name", ""), where, available, since(_meta(svc).get("creationTimestamp"), now)]


CSR_COLUMNS = (
    _name_column(), _AGE, Column("SignerName", description="The signer the certificate is requested from."),
    Column("Requestor", description="The user who created the request."),
    Column("RequestedDuration", description="spec.expirationSeconds: the requested validity."),
    Column("Condition", description="Approved/Denied, Failed, Issued."),
)


def csr_condition(csr: Doc) -> str:
    """extractCSRStatus: ``Denied`` over ``Approved`` over ``Pending``, then ``,Failed`` and ``,Issued``."""
    types = {c.get("type") for c in _get(csr, "status", "conditions") or [] if isinstance(c, dict)}
    status = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        status += ",Failed"
    if _get(csr, "status", "certificate"):
        status += ",Issued"
    return status


def csr_row(csr: Doc, now: datetime) -> list[Cell]:
    spec = _mapping(csr.get("spec"))
    seconds = spec.get("expirationSeconds")
    duration = human_duration(seconds) if isinstance(seconds, int) and not isinstance(seconds, bool) else "<none>"
    return [_meta(csr).get("name", ""), since(_meta(csr).get("creationTimestamp"), now),
            spec.get("signerName") or "<none>", str(spec.get("username") or ""), duration, csr_condition(csr)]


WEBHOOK_COLUMNS = (
    _name_column(),
    Column("Webhooks", type="integer",
           description="Webhooks indicates the number of webhooks registered in this configuration"), _AGE,
)


def webhook_configuration_row(config: Doc, now: datetime) -> list[Cell]:
    return [_meta(config).get("name", ""), _count(config.get("webhooks")),
            since(_meta(config).get("creationTimestamp"), now)]


ADMISSION_POLICY_COLUMNS = (
    _name_column(),
    Column("Validations", type="integer",
           description="Validations indicates the number of validation rules defined in this configuration"),
    Column("ParamKind", description="ParamKind specifies the kind of resources used to parameterize this policy"),
    _AGE,
)
ADMISSION_POLICY_BINDING_COLUMNS = (
    _name_column(),
    Column("PolicyName", description="PolicyName indicates the policy definition which the policy binding binded to"),
    Column("ParamRef", description="ParamRef indicates the param resource which sets the configration param"),
    _AGE,
)


def admission_policy_row(policy: Doc, now: datetime) -> list[Cell]:
    spec = _mapping(policy.get("spec"))
    kind = spec.get("paramKind")
    param_kind = f"{kind.get('apiVersion', '')}/{kind.get('kind', '')}" if isinstance(kind, dict) else "<unset>"
    return [_meta(policy).get("name", ""), _count(spec.get("validations")), param_kind,
            since(_meta(policy).get("creationTimestamp"), now)]


def go_label_selector(selector: Doc) -> str:
    """metav1.LabelSelector's generated ``String()`` (what kube prints for a binding's paramRef selector):
    ``&LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},}``."""
    labels = _mapping(selector.get("matchLabels"))
    pairs = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in e.get('values') or [])}],}},"
        for e in selector.get("matchExpressions") or [] if isinstance(e, dict))
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{pairs}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}")


def admission_policy_binding_row(binding: Doc, now: datetime) -> list[Cell]:
    """PARAMREF: ``namespace/name`` (``*/name`` without a namespace: it may be cluster-scoped), the
    selector, or ``<unset>``."""
    spec = _mapping(binding.get("spec"))
    ref = spec.get("paramRef")
    param = "<unset>"
    if isinstance(ref, dict):
        if ref.get("name"):
            param = f"{ref.get('namespace') or '*'}/{ref['name']}"
        elif isinstance(ref.get("selector"), dict):
            param = go_label_selector(ref["selector"])
    return [_meta(binding).get("name", ""), str(spec.get("policyName") or ""), param,
            since(_meta(binding).get("creationTimestamp"), now)]


Printer = tuple[Sequence[Column], Callable[[Doc, datetime], list[Cell]]]
PRINTERS: dict[str, Printer] = {
    "Pod": (POD_COLUMNS, pod_row), "Deployment": (DEPLOYMENT_COLUMNS, deployment_row),
    "ReplicaSet": (REPLICASET_COLUMNS, replicaset_row), "Node": (NODE_COLUMNS, node_row),
    "ReplicationController": (REPLICASET_COLUMNS, replicationcontroller_row),
    "Namespace": (NAMESPACE_COLUMNS, namespace_row), "Event": (EVENT_COLUMNS, event_row),
    "Lease": (LEASE_COLUMNS, lease_row), "ConfigMap": (CONFIGMAP_COLUMNS, configmap_row),
    "Secret": (SECRET_COLUMNS, secret_row), "ServiceAccount": (SERVICEACCOUNT_COLUMNS, serviceaccount_row),
    "Service": (SERVICE_COLUMNS, service_row), "Job": (JOB_COLUMNS, job_row), "CronJob": (CRONJOB_COLUMNS, cronjob_row),
    "DaemonSet": (DAEMONSET_COLUMNS, daemonset_row), "StatefulSet": (STATEFULSET_COLUMNS, statefulset_row),
    "ControllerRevision": (CONTROLLERREVISION_COLUMNS, controllerrevision_row),
    "PersistentVolumeClaim": (PVC_COLUMNS, pvc_row), "PersistentVolume": (PV_COLUMNS, pv_row),
    "StorageClass": (STORAGECLASS_COLUMNS, storageclass_row),
    "HorizontalPodAutoscaler": (HPA_COLUMNS, hpa_row), "PodDisruptionBudget": (PDB_COLUMNS, pdb_row), "ResourceQuota": (QUOTA_COLUMNS, quota_row),
    "NodeMetrics": (METRICS_COLUMNS, metrics_row), "PodMetrics": (METRICS_COLUMNS, metrics_row),
    "Endpoints": (ENDPOINTS_COLUMNS, endpoints_row), "EndpointSlice": (ENDPOINTSLICE_COLUMNS, endpointslice_row),
    "APIService": (APISERVICE_COLUMNS, apiservice_row), "CertificateSigningRequest": (CSR_COLUMNS, csr_row),
    "ValidatingWebhookConfiguration": (WEBHOOK_COLUMNS, webhook_configuration_row),
    "MutatingWebhookConfiguration": (WEBHOOK_COLUMNS, webhook_configuration_row),
    "ValidatingAdmissionPolicy": (ADMISSION_POLICY_COLUMNS, admission_policy_row),
    "ValidatingAdmissionPolicyBinding": (ADMISSION_POLICY_BINDING_COLUMNS, admission_policy_binding_row),
}



def _row_object(doc: Doc, include_object: str) -> Doc | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return doc
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(doc)}


def build_table(
    kind: str, docs: Sequence[Doc], *, now: datetime, resource_version: str | None = None,
    continue_token: str | None = None, include_object: str = "Metadata", headers: bool = True,
    printer: Printer | None = None,
) -> Doc:
    """A meta.k8s.io/v1 Table of ``docs``; ``headers=False`` omits the column definitions (watch events);
    ``printer``: columns of a kind not in :data:`PRINTERS` (a custom resource's, kubelite.gateway.crds)."""
    columns, row_of = printer or PRINTERS.get(kind, (DEFAULT_COLUMNS, default_row))
    rows = []
    for doc in docs:
        row: Doc = {"cells": row_of(doc, now)}
        obj = _row_object(doc, include_object)
        if obj is not None:
            row["object"] = obj
        rows.append(row)
    metadata: Doc = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
        "columnDefinitions": [c.to_dict() for c in columns] if headers else [],
        "rows": rows,
    }
