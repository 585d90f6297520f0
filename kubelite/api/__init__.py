"""Kubernetes-shaped API objects: models, parsing, validation, selectors, quantities."""

from kubelite.api.apps import (
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    ReplicaSet,
    ReplicaSetCondition,
    ReplicaSetSpec,
    ReplicaSetStatus,
    RollingUpdateDeployment,
    resolve_int_or_percent,
)
from kubelite.api.coordination import Lease, LeaseSpec
from kubelite.api.core import (
    Container,
    ContainerPort,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    DaemonEndpoint,
    EnvVar,
    Event,
    EventSource,
    ExecAction,
    HTTPGetAction,
    HTTPHeader,
    LabelSelector,
    LabelSelectorRequirement,
    Namespace,
    Node,
    NodeAddress,
    NodeCondition,
    NodeDaemonEndpoints,
    NodeSpec,
    NodeStatus,
    NodeSystemInfo,
    ObjectReference,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Probe,
    ResourceRequirements,
    Taint,
    TCPSocketAction,
    Toleration,
)
from kubelite.api.errors import ApiError, Status, StatusCause
from kubelite.api.labels import (
    FieldRequirement,
    Requirement,
    Selector,
    matches_fields,
    parse_field_selector,
    parse_selector,
    selector_from_label_selector,
    selector_from_labels,
)
from kubelite.api.meta import KubeModel, KubeObject, ObjectMeta, OwnerReference
from kubelite.api.parse import load_documents, parse_object
from kubelite.api.quantity import cpu_millis, format_bytes, format_cpu_millis, parse_quantity, to_bytes
from kubelite.api.validation import validate_object
from kubelite.api.warnings import unknown_fields

__all__ = [
    "ApiError", "Container", "ContainerPort", "ContainerState", "ContainerStateRunning",
    "ContainerStateTerminated", "ContainerStateWaiting", "ContainerStatus", "DaemonEndpoint", "Deployment", "DeploymentCondition",
    "DeploymentSpec", "DeploymentStatus", "DeploymentStrategy", "EnvVar", "Event", "EventSource", "ExecAction",
    "FieldRequirement", "HTTPGetAction", "HTTPHeader", "KubeModel", "KubeObject", "LabelSelector",
    "LabelSelectorRequirement", "Lease", "LeaseSpec", "Namespace", "Node", "NodeAddress", "NodeCondition",
    "NodeDaemonEndpoints",
    "NodeSpec", "NodeStatus", "NodeSystemInfo", "ObjectMeta", "ObjectReference", "OwnerReference", "Pod",
    "PodCondition", "PodSpec", "PodStatus", "PodTemplateSpec", "Probe", "ReplicaSet", "ReplicaSetCondition",
    "ReplicaSetSpec", "ReplicaSetStatus", "Requirement", "ResourceRequirements", "RollingUpdateDeployment",
    "Selector", "Status", "StatusCause", "TCPSocketAction", "Taint", "Toleration", "cpu_millis", "format_bytes",
    "format_cpu_millis", "load_documents", "matches_fields", "parse_field_selector", "parse_object",
    "parse_quantity", "parse_selector", "resolve_int_or_percent", "selector_from_label_selector",
    "selector_from_labels", "to_bytes", "unknown_fields", "validate_object",
]
