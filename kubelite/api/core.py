"""Core v1 kinds: Namespace, Node, Pod, Event, and the structures they share.

A strict subset of Kubernetes' fields (see docs/DESIGN "Object model"); any
other field is kept and reported as unknown. Optional fields default to
``None`` so manifests round-trip unchanged; ``effective_*`` properties give
Kubernetes' defaults to the code that needs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, PlainSerializer

from kubelite.api import quantity
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.meta import KubeModel, KubeObject, ObjectMeta
from kubelite.api.podconfig import EnvFromSource, EnvVarSource, Volume, VolumeMount
from kubelite.api.quantity import Quantity
from kubelite.api.security import PodSecurityContext, SecurityContext
from kubelite.util import clock


def _format_micro_time(value: datetime) -> str:
    return clock.format_micro_time(value if value.tzinfo else value.replace(tzinfo=UTC))


MicroTime = Annotated[datetime, PlainSerializer(_format_micro_time, return_type=str, when_used="json")]
"""Kubernetes' MicroTime (Lease renewTime, Event eventTime): always six fractional digits."""


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(KubeModel):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None

    def matches(self, labels: dict[str, str] | None) -> bool:
        """Kubernetes semantics: an empty selector matches everything. ValueError if malformed."""
        return selector_from_label_selector(self).matches(labels)


class EnvVar(KubeModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ContainerPort(KubeModel):
    name: str | None = None
    container_port: int
    host_port: int | None = None
    host_ip: str | None = Field(None, alias="hostIP")
    protocol: str | None = None

    @property
    def effective_protocol(self) -> str:
        return self.protocol or "TCP"


class ResourceRequirements(KubeModel):
    """Quantities stay as written (round trip); the helpers parse them."""

    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None

    def _effective(self, name: str) -> Quantity | None:
        """Kubernetes defaults a missing request to the limit."""
        requests, limits = self.requests or {}, self.limits or {}
        return requests.get(name, limits.get(name))

    def has_request(self, name: str) -> bool:
        """Whether a request for ``name`` is set (or stands in from its limit)."""
        return self._effective(name) is not None

    def cpu_request_millis(self) -> int:
        value = self._effective("cpu")
        return 0 if value is None else quantity.cpu_millis(value)

    def memory_request_bytes(self) -> int:
        value = self._effective("memory")
        return 0 if value is None else quantity.to_bytes(value)

    def cpu_limit_millis(self) -> int | None:
        value = (self.limits or {}).get("cpu")
        return None if value is None else quantity.cpu_millis(value)

    def memory_limit_bytes(self) -> int | None:
        value = (self.limits or {}).get("memory")
        return None if value is None else quantity.to_bytes(value)


class HTTPHeader(KubeModel):
    name: str
    value: str


class HTTPGetAction(KubeModel):
    path: str | None = None
    port: int | str
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(KubeModel):
    port: int | str
    host: str | None = None


class ExecAction(KubeModel):
    command: list[str] | None = None


class Probe(KubeModel):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec_: ExecAction | None = Field(None, alias="exec")
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None

    @property
    def effective_initial_delay_seconds(self) -> int:
        return self.initial_delay_seconds or 0

    @property
    def effective_timeout_seconds(self) -> int:
        return self.timeout_seconds or 1

    @property
    def effective_period_seconds(self) -> int:
        return self.period_seconds or 10

    @property
    def effective_success_threshold(self) -> int:
        return self.success_threshold or 1

    @property
    def effective_failure_threshold(self) -> int:
        return self.failure_threshold or 3


class Container(KubeModel):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    env_from: list[EnvFromSource] | None = None
    volume_mounts: list[VolumeMount] | None = None
    restart_policy: str | None = None  # init containers only: "Always" makes a sidecar
    ports: list[ContainerPort] | None = None
    resources: ResourceRequirements | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: str | None = None
    stdin: bool | None = None  # keep stdin open for `kubectl attach -i` (stdinOnce is kept, not acted on)
    tty: bool | None = None
    security_context: SecurityContext | None = None

    @property
    def effective_image_pull_policy(self) -> str:
        """Kubernetes: ``Always`` for ``:latest`` or untagged images, else ``IfNotPresent``."""
        if self.image_pull_policy:
            return self.image_pull_policy
        image = self.image or ""
        if "@" in image:  # pinned by digest
            return "IfNotPresent"
        tag = image.rpartition("/")[2].partition(":")[2]
        return "Always" if tag in ("", "latest") else "IfNotPresent"


class Taint(KubeModel):
    key: str
    value: str | None = None
    effect: str
    time_added: datetime | None = None


class Toleration(KubeModel):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None

    def tolerates(self, taint: Taint) -> bool:
        """Kubernetes' ToleratesTaint: empty effect/key match all; Exists ignores the value."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if (self.operator or "Equal") == "Exists":
            return True
        return (self.value or "") == (taint.value or "")


class PodSchedulingGate(KubeModel):
    name: str


# A gated pod's PodScheduled=False condition, set when it is created (the pod strategy's
# applySchedulingGatedCondition); kubectl shows the reason as the pod's STATUS
SCHEDULING_GATED = "SchedulingGated"
SCHEDULING_GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"


class PodSpec(KubeModel):
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] | None = None
    volumes: list[Volume] | None = None
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None  # the ServiceAccount admission reads it (kubelite.registry.sa_admission)
    restart_policy: str | None = None
    node_name: str | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    termination_grace_period_seconds: int | None = None
    # node affinity (required terms) is honoured by the scheduler; the rest of affinity is kept as sent
    affinity: dict[str, Any] | None = None
    priority_class_name: str | None = None
    priority: int | None = None  # set from priorityClassName at admission (kubelite.registry.strategy)
    # DNS and service discovery (issue 13): the agent's resolv.conf, service env vars; endpoints' hostnames
    dns_policy: str | None = None
    enable_service_links: bool | None = None
    hostname: str | None = None
    subdomain: str | None = None
    security_context: PodSecurityContext | None = None
    # while any is left the scheduler leaves the pod alone (only their removal is allowed: kubelite.gateway.immutable)
    scheduling_gates: list[PodSchedulingGate] | None = None

    @property
    def effective_restart_policy(self) -> str:
        return self.restart_policy or "Always"

    @property
    def effective_termination_grace_period_seconds(self) -> int:
        return 30 if self.termination_grace_period_seconds is None else self.termination_grace_period_seconds


class PodTemplateSpec(KubeModel):
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class PodCondition(KubeModel):
    type: str
    status: str
    last_probe_time: datetime | None = None
    last_transition_time: datetime | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(KubeModel):
    started_at: datetime | None = None


class ContainerStateTerminated(KubeModel):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    container_id: str | None = Field(None, alias="containerID")


class ContainerState(KubeModel):
    """At most one of the three is set; none means the state is unknown yet."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(KubeModel):
    """``ready``, ``restartCount``, ``image``, ``imageID`` are always present in Kubernetes, hence not None."""

    name: str
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    ready: bool = False
    restart_count: int = 0
    image: str = ""
    image_id: str = Field("", alias="imageID")
    container_id: str | None = Field(None, alias="containerID")
    started: bool | None = None


class PodIP(KubeModel):
    ip: str


class HostIP(KubeModel):
    ip: str


class PodStatus(KubeModel):
    phase: str | None = None
    conditions: list[PodCondition] | None = None
    message: str | None = None
    reason: str | None = None
    host_ip: str | None = Field(None, alias="hostIP")
    host_ips: list[HostIP] | None = Field(None, alias="hostIPs")
    pod_ip: str | None = Field(None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(None, alias="podIPs")
    start_time: datetime | None = None
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = None  # set on create (kubelite.api.qos), never changed

    def condition(self, type_: str) -> PodCondition | None:
        return next((c for c in self.conditions or [] if c.type == type_), None)


class Pod(KubeObject):
    API_VERSION = "v1"
    KIND = "Pod"

    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus | None = None

    @property
    def phase(self) -> str:
        """A pod nobody has reported on yet is Pending."""
        return (self.status.phase if self.status else None) or "Pending"

    @property
    def node_name(self) -> str | None:
        return self.spec.node_name

    def is_ready(self) -> bool:
        condition = self.status.condition("Ready") if self.status else None
        return condition is not None and condition.status == "True"

    def is_terminated(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


class NamespaceSpec(KubeModel):
    finalizers: list[str] | None = None


class NamespaceCondition(KubeModel):
    type: str
    status: str
    last_transition_time: datetime | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(KubeModel):
    phase: str | None = None
    conditions: list[NamespaceCondition] | None = None

    def condition(self, type_: str) -> NamespaceCondition | None:
        return next((c for c in self.conditions or [] if c.type == type_), None)


class Namespace(KubeObject):
    API_VERSION = "v1"
    KIND = "Namespace"

    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


class NodeSpec(KubeModel):
    pod_cidr: str | None = Field(None, alias="podCIDR")
    pod_cidrs: list[str] | None = Field(None, alias="podCIDRs")
    provider_id: str | None = Field(None, alias="providerID")
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeCondition(KubeModel):
    type: str
    status: str
    last_heartbeat_time: datetime | None = None
    last_transition_time: datetime | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(KubeModel):
    type: str
    address: str


class NodeSystemInfo(KubeModel):
    machine_id: str | None = Field(None, alias="machineID")
    system_uuid: str | None = Field(None, alias="systemUUID")
    boot_id: str | None = Field(None, alias="bootID")
    kernel_version: str | None = None
    os_image: str | None = None
    container_runtime_version: str | None = None
    kubelet_version: str | None = None
    kube_proxy_version: str | None = None
    operating_system: str | None = None
    architecture: str | None = None


class DaemonEndpoint(KubeModel):
    port: int = Field(alias="Port")  # Kubernetes' one capitalised JSON name


class NodeDaemonEndpoints(KubeModel):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeStatus(KubeModel):
    capacity: dict[str, Quantity] | None = None
    allocatable: dict[str, Quantity] | None = None
    phase: str | None = None
    conditions: list[NodeCondition] | None = None
    addresses: list[NodeAddress] | None = None
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None

    def condition(self, type_: str) -> NodeCondition | None:
        return next((c for c in self.conditions or [] if c.type == type_), None)


class Node(KubeObject):
    API_VERSION = "v1"
    KIND = "Node"

    spec: NodeSpec | None = None
    status: NodeStatus | None = None

    def is_ready(self) -> bool:
        condition = self.status.condition("Ready") if self.status else None
        return condition is not None and condition.status == "True"

    @property
    def taints(self) -> list[Taint]:
        return list(self.spec.taints or []) if self.spec else []

    @property
    def unschedulable(self) -> bool:
        return bool(self.spec and self.spec.unschedulable)


class ObjectReference(KubeModel):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class Event(KubeObject):
    """A core/v1 Event, as ``kubectl describe`` and ``kubectl get events`` read it."""

    API_VERSION = "v1"
    KIND = "Event"

    involved_object: ObjectReference = Field(default_factory=ObjectReference)
    reason: str | None = None
    message: str | None = None
    type: str | None = None
    count: int | None = None
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    event_time: MicroTime | None = None
    source: EventSource | None = None
    action: str | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
