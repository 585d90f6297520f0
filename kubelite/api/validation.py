"""Semantic validation: what a well-typed object may still get wrong.

Each check returns ``StatusCause`` s whose ``field`` is a Kubernetes field
path (``spec.template.spec.containers[0].ports[1].containerPort``) and whose
message reads like Kubernetes' own, so the 422 a user sees points at the
line to fix. Entry point: :func:`validate_object`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from kubelite.api import errors, quantity
from kubelite.api.apps import (
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
)
from kubelite.api.coordination import Lease
from kubelite.api.documents import document_causes
from kubelite.api.core import (
    Container,
    ContainerPort,
    Event,
    LabelSelector,
    Namespace,
    Node,
    Pod,
    PodSpec,
    Probe,
    ResourceRequirements,
    Taint,
    Toleration,
)
from kubelite.api.errors import StatusCause
from kubelite.api.labels import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    qualified_name_errors,
    selector_from_label_selector,
)
from kubelite.api.meta import KubeObject, ObjectMeta
from kubelite.api.security import SECCOMP_TYPES, PodSecurityContext, SecurityContext, SeccompProfile
from kubelite.api.resources import api_group, named_like_built_in, resource_for_kind
from kubelite.api.schema import check_document, prune

NameCheck = Callable[[str], list[str]]

# Object names per resource (Kubernetes' ValidateNameFunc per kind): namespaces are RFC 1123
# labels, the other kinds kubelite serves RFC 1123 subdomains.
_NAME_CHECKS: dict[str, NameCheck] = {"namespaces": dns1123_label_errors}


def name_check_for(plural: str) -> NameCheck:
    """How names of the resource ``plural`` are validated (create, and clients before a request)."""
    return _NAME_CHECKS.get(plural, dns1123_subdomain_errors)


def path_segment_name_errors(name: str) -> list[str]:
    """Why ``name`` cannot be one segment of a request path (apimachinery's IsValidPathSegmentName);
    the rule for any kind, including ones whose own name rule is unknown."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


# RBAC objects are named by path segments (rbac validation's ValidateRBACName): ``system:node``
_RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
_PATH_SEGMENT_NAMED = _RBAC_KINDS | {"APIService"}
_NAME_CHECKS.update(dict.fromkeys(("roles", "clusterroles", "rolebindings", "clusterrolebindings"),
                                  path_segment_name_errors))
_NAME_CHECKS["apiservices"] = path_segment_name_errors  # "v1." is the core group's (kube-aggregator's rule)
ANNOTATIONS_MAX_BYTES = 256 * 1024
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_PERCENT = re.compile(r"[0-9]+%")


def _show(value: Any) -> str:
    """Values as Kubernetes prints them: strings quoted, numbers bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def invalid(path: str, value: Any, detail: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueInvalid", message=f"Invalid value: {_show(value)}: {detail}")


def required(path: str, detail: str = "") -> StatusCause:
    message = f"Required value: {detail}" if detail else "Required value"
    return StatusCause(field=path, reason="FieldValueRequired", message=message)


def unsupported(path: str, value: Any, supported: tuple[str, ...]) -> StatusCause:
    choices = ", ".join(f'"{s}"' for s in supported)
    message = f"Unsupported value: {_show(value)}: supported values: {choices}"
    return StatusCause(field=path, reason="FieldValueNotSupported", message=message)


def too_long(path: str, limit: int) -> StatusCause:
    """field.TooLong: ``Too long: may not be more than N bytes``."""
    return StatusCause(field=path, reason="FieldValueTooLong", message=f"Too long: may not be more than {limit} bytes")


def duplicate(path: str, value: Any) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueDuplicate", message=f"Duplicate value: {_show(value)}")


def forbidden(path: str, detail: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueForbidden", message=f"Forbidden: {detail}")


def _name_causes(path: str, value: str, check: NameCheck) -> list[StatusCause]:
    return [invalid(path, value, e) for e in check(value)]


def _at_least(path: str, value: int | None, minimum: int) -> list[StatusCause]:
    """Kubernetes' ValidateNonnegativeField (minimum 0) and its kin; integers only (the decoder checked types)."""
    if not isinstance(value, int) or value >= minimum:
        return []
    return [invalid(path, value, f"must be greater than or equal to {minimum}")]


def _positive(path: str, value: int | None) -> list[StatusCause]:
    if not isinstance(value, int) or value > 0:
        return []
    return [invalid(path, value, "must be greater than 0")]


def _in_range(path: str, value: Any, low: int, high: int) -> list[StatusCause]:
    """Kubernetes' InclusiveRangeError."""
    if not isinstance(value, int) or isinstance(value, bool) or low <= value <= high:
        return []
    return [invalid(path, value, f"must be between {low} and {high}, inclusive")]


def _not_above(path: str, value: int | None, ceiling: int | None, ceiling_name: str) -> list[StatusCause]:
    """Status counters: a part never exceeds its whole (e.g. readyReplicas <= replicas)."""
    if value is None or (ceiling or 0) >= value:
        return []
    return [invalid(path, value, f"cannot be greater than {ceiling_name}")]


def iana_svc_name_errors(value: str) -> list[str]:
    """Port names (IANA service names), as Kubernetes checks them: at most 15 characters."""
    errors = []
    if len(value) > 15:
        errors.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def validate_labels(labels: Mapping[str, str] | None, path: str) -> list[StatusCause]:
    causes = []
    for key, value in (labels or {}).items():
        causes += [invalid(path, key, e) for e in qualified_name_errors(key)]
        causes += [invalid(path, value, e) for e in label_value_errors(value)]
    return causes


def validate_annotations(annotations: Mapping[str, str] | None, path: str) -> list[StatusCause]:
    causes = []
    for key in annotations or {}:
        causes += [invalid(path, key, e) for e in qualified_name_errors(key.lower())]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in (annotations or {}).items())
    if size > ANNOTATIONS_MAX_BYTES:
        causes.append(StatusCause(field=path, reason="FieldValueTooLong",
                                  message=f"Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"))
    return causes


def validate_metadata(
    meta: ObjectMeta, *, namespaced: bool, name_check: NameCheck = dns1123_subdomain_errors, path: str = "metadata"
) -> list[StatusCause]:
    """Name (or generateName), namespace, labels and annotations of a top-level object."""
    causes = []
    if meta.name:
        causes += _name_causes(f"{path}.name", meta.name, name_check)
    elif meta.generate_name:
        # A generated name appends random characters, so a trailing '-' is fine.
        prefix = meta.generate_name[:-1] + "a" if meta.generate_name.endswith("-") else meta.generate_name
        causes += [invalid(f"{path}.generateName", meta.generate_name, e) for e in name_check(prefix)]
    else:
        causes.append(required(f"{path}.name", "name or generateName is required"))
    if meta.namespace and not namespaced:
        causes.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    elif meta.namespace:
        causes += _name_causes(f"{path}.namespace", meta.namespace, dns1123_label_errors)
    causes += validate_labels(meta.labels, f"{path}.labels")
    causes += validate_annotations(meta.annotations, f"{path}.annotations")
    causes += _at_least(f"{path}.generation", meta.generation, 0)
    return causes


def validate_label_selector(selector: LabelSelector, path: str) -> list[StatusCause]:
    causes = validate_labels(selector.match_labels, f"{path}.matchLabels")
    for i, expr in enumerate(selector.match_expressions or []):
        where = f"{path}.matchExpressions[{i}]"
        causes += [invalid(f"{where}.key", expr.key, e) for e in qualified_name_errors(expr.key)]
        if expr.operator in ("In", "NotIn"):
            if not expr.values:
                causes.append(required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif expr.operator in ("Exists", "DoesNotExist"):
            if expr.values:
                causes.append(forbidden(f"{where}.values",
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            causes.append(unsupported(f"{where}.operator", expr.operator, ("In", "NotIn", "Exists", "DoesNotExist")))
        for j, value in enumerate(expr.values or []):
            causes += [invalid(f"{where}.values[{j}]", value, e) for e in label_value_errors(value)]
    return causes


def _validate_port_number(port: int | str, path: str) -> list[StatusCause]:
    """A probe's port: a number 1..65535 or the name of a container port."""
    if isinstance(port, str):
        return [invalid(path, port, e) for e in iana_svc_name_errors(port)]
    if not 1 <= port <= 65535:
        return [invalid(path, port, "must be between 1 and 65535, inclusive")]
    return []


def validate_probe(probe: Probe, path: str, *, single_success: bool) -> list[StatusCause]:
    """``single_success``: liveness and startup probes must have successThreshold 1."""
    grpc = (probe.model_extra or {}).get("grpc")  # kept, not acted on (a warning says so), but a handler to kube
    handlers = [h for h in (probe.http_get, probe.tcp_socket, probe.exec_, grpc) if h is not None]
    causes = []
    if not handlers:
        causes.append(required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        causes.append(forbidden(path, "may not specify more than 1 handler type"))
    if probe.http_get is not None:
        causes += _validate_port_number(probe.http_get.port, f"{path}.httpGet.port")
        if probe.http_get.scheme not in (None, "HTTP", "HTTPS"):
            causes.append(unsupported(f"{path}.httpGet.scheme", probe.http_get.scheme, ("HTTP", "HTTPS")))
    if probe.tcp_socket is not None:
        causes += _validate_port_number(probe.tcp_socket.port, f"{path}.tcpSocket.port")
    if probe.exec_ is not None and not probe.exec_.command:
        causes.append(required(f"{path}.exec.command"))
    if isinstance(grpc, dict):
        causes += _in_range(f"{path}.grpc.port", grpc.get("port"), 1, 65535)
    # Kubernetes: all non-negative; a 0 is defaulted (timeout 1, period 10, thresholds 1 and 3) before validation.
    for name in ("initial_delay_seconds", "timeout_seconds", "period_seconds", "success_threshold",
                 "failure_threshold"):
        causes += _at_least(f"{path}.{Probe.model_fields[name].alias}", getattr(probe, name), 0)
    causes += _positive(f"{path}.terminationGracePeriodSeconds", probe.termination_grace_period_seconds)
    if single_success and probe.success_threshold not in (None, 1):
        causes.append(invalid(f"{path}.successThreshold", probe.success_threshold, "must be 1"))
    return causes


def validate_resources(resources: ResourceRequirements, path: str) -> list[StatusCause]:
    causes = []
    parsed: dict[str, dict[str, Any]] = {"requests": {}, "limits": {}}
    for kind, values in (("requests", resources.requests), ("limits", resources.limits)):
        for name, value in (values or {}).items():
            where = f"{path}.{kind}.{name}"
            try:
                amount = quantity.parse_quantity(value)
            except ValueError as exc:
                causes.append(invalid(where, value, str(exc)))
                continue
            if amount < 0:
                causes.append(invalid(where, value, "must be greater than or equal to 0"))
            parsed[kind][name] = amount
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and request > limit:
            value = (resources.requests or {})[name]
            detail = f"must be less than or equal to {name} limit of {(resources.limits or {})[name]}"
            causes.append(invalid(f"{path}.requests.{name}", value, detail))
    return causes


def validate_container_port(port: ContainerPort, path: str) -> list[StatusCause]:
    causes = []
    if not 1 <= port.container_port <= 65535:
        causes.append(invalid(f"{path}.containerPort", port.container_port, "must be between 1 and 65535, inclusive"))
    if port.host_port and not 1 <= port.host_port <= 65535:
        causes.append(invalid(f"{path}.hostPort", port.host_port, "must be between 1 and 65535, inclusive"))
    if port.protocol is not None and port.protocol not in ("TCP", "UDP", "SCTP"):
        causes.append(unsupported(f"{path}.protocol", port.protocol, ("SCTP", "TCP", "UDP")))
    if port.name is not None:
        causes += [invalid(f"{path}.name", port.name, e) for e in iana_svc_name_errors(port.name)]
    return causes


def validate_container(container: Container, path: str) -> list[StatusCause]:
    causes = _name_causes(f"{path}.name", container.name, dns1123_label_errors)
    if not (container.image or "").strip():
        causes.append(required(f"{path}.image"))
    if container.image_pull_policy is not None and container.image_pull_policy not in ("Always", "IfNotPresent",
                                                                                         "Never"):
        causes.append(unsupported(f"{path}.imagePullPolicy", container.image_pull_policy,
                                  ("Always", "IfNotPresent", "Never")))
    port_names: set[str] = set()
    for i, port in enumerate(container.ports or []):
        causes += validate_container_port(port, f"{path}.ports[{i}]")
        if port.name and port.name in port_names:
            causes.append(duplicate(f"{path}.ports[{i}].name", port.name))
        port_names.add(port.name or "")
    for i, env in enumerate(container.env or []):
        if not env.name:
            causes.append(required(f"{path}.env[{i}].name"))
        elif "=" in env.name:
            causes.append(invalid(f"{path}.env[{i}].name", env.name, "must not contain '='"))
    if container.resources is not None:
        causes += validate_resources(container.resources, f"{path}.resources")
    for field, probe in (("livenessProbe", container.liveness_probe), ("readinessProbe", container.readiness_probe),
                         ("startupProbe", container.startup_probe)):
        if probe is not None:
            causes += validate_probe(probe, f"{path}.{field}", single_success=field != "readinessProbe")
    causes += validate_security_context(container.security_context, f"{path}.securityContext")
    return causes + _kept_port_causes(container.model_extra or {}, path)


def _kept_port_causes(extra: Mapping[str, Any], path: str) -> list[StatusCause]:
    """Port numbers in fields kubelite keeps without acting on them: kube refuses what it could not use.

    Lifecycle hooks' httpGet/tcpSocket ports (validateHandler), as for probes.
    Types were checked by the decoder pass; anything else is left as it is.
    """
    causes: list[StatusCause] = []
    lifecycle = extra.get("lifecycle")
    for hook in ("postStart", "preStop"):
        handler = lifecycle.get(hook) if isinstance(lifecycle, dict) else None
        for action in ("httpGet", "tcpSocket"):
            target = handler.get(action) if isinstance(handler, dict) else None
            port = target.get("port") if isinstance(target, dict) else None
            if isinstance(port, int | str) and not isinstance(port, bool):
                causes += _validate_port_number(port, f"{path}.lifecycle.{hook}.{action}.port")
    return causes


def _pod_config_causes(spec: PodSpec, path: str) -> list[StatusCause]:
    """Init containers (validated as containers; ``restartPolicy`` only ``Always``, a sidecar), unique
    container names across both lists, unique volume names, mounts of defined volumes
    (kube's ValidatePodSpec: validateInitContainers, validateVolumes, validateVolumeMounts)."""
    causes: list[StatusCause] = []
    names = {c.name for c in spec.containers}
    for i, init in enumerate(spec.init_containers or []):
        where = f"{path}.initContainers[{i}]"
        causes += validate_container(init, where)
        if init.name in names:
            causes.append(duplicate(f"{where}.name", init.name))
        names.add(init.name)
        if init.restart_policy is not None and init.restart_policy != "Always":
            causes.append(unsupported(f"{where}.restartPolicy", init.restart_policy, ("Always",)))
    for i, container in enumerate(spec.containers):
        if container.restart_policy is not None:
            causes.append(forbidden(f"{path}.containers[{i}].restartPolicy", "may not be set for non-init containers"))
    volumes: set[str] = set()
    for i, volume in enumerate(spec.volumes or []):
        causes += _name_causes(f"{path}.volumes[{i}].name", volume.name, dns1123_label_errors)
        if volume.name in volumes:
            causes.append(duplicate(f"{path}.volumes[{i}].name", volume.name))
        volumes.add(volume.name)
    for field, containers in (("initContainers", spec.init_containers or []), ("containers", spec.containers)):
        for i, container in enumerate(containers):
            for j, mount in enumerate(container.volume_mounts or []):
                where = f"{path}.{field}[{i}].volumeMounts[{j}]"
                if mount.name not in volumes:
                    causes.append(StatusCause(field=f"{where}.name", reason="FieldValueNotFound",
                                              message=f"Not found: {_show(mount.name)}"))
                if not mount.mount_path:
                    causes.append(required(f"{where}.mountPath"))
    return causes


def _id_causes(path: str, value: int | None) -> list[StatusCause]:
    """kube's IsValidUserID / IsValidGroupID."""
    if value is not None and not 0 <= value <= 2**31 - 1:
        return [invalid(path, value, "must be between 0 and 2147483647, inclusive")]
    return []


def _seccomp_causes(profile: SeccompProfile | None, path: str) -> list[StatusCause]:
    if profile is None:
        return []
    if profile.type not in SECCOMP_TYPES:
        return [unsupported(f"{path}.type", profile.type, SECCOMP_TYPES)]
    if profile.type == "Localhost" and not profile.localhost_profile:
        return [required(f"{path}.localhostProfile", "must be set when seccomp type is Localhost")]
    if profile.type != "Localhost" and profile.localhost_profile:
        return [forbidden(f"{path}.localhostProfile", "can only be set when seccomp type is Localhost")]
    return []


def validate_security_context(context: SecurityContext | None, path: str) -> list[StatusCause]:
    """A container's ``securityContext`` (``path`` ends in ``.securityContext``)."""

    if context is None:
        return []
    causes = _id_causes(f"{path}.runAsUser", context.run_as_user) + _id_causes(f"{path}.runAsGroup",
                                                                               context.run_as_group)
    causes += _seccomp_causes(context.seccomp_profile, f"{path}.seccompProfile")
    if context.allow_privilege_escalation is False:
        if context.privileged:
            causes.append(invalid(path, context.allow_privilege_escalation,
                                  "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
        if context.capabilities is not None and "CAP_SYS_ADMIN" in (context.capabilities.add or []):
            causes.append(invalid(path, context.allow_privilege_escalation,
                                  "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
    return causes


def validate_pod_security_context(context: PodSecurityContext | None, path: str) -> list[StatusCause]:
    """The pod's ``spec.securityContext``."""
    if context is None:
        return []
    causes = _id_causes(f"{path}.runAsUser", context.run_as_user) + _id_causes(f"{path}.runAsGroup",
                                                                               context.run_as_group)
    causes += _id_causes(f"{path}.fsGroup", context.fs_group)
    for i, group in enumerate(context.supplemental_groups or []):
        causes += _id_causes(f"{path}.supplementalGroups[{i}]", group)
    return causes + _seccomp_causes(context.seccomp_profile, f"{path}.seccompProfile")


def validate_toleration(toleration: Toleration, path: str) -> list[StatusCause]:
    causes = []
    if toleration.key:
        causes += [invalid(f"{path}.key", toleration.key, e) for e in qualified_name_errors(toleration.key)]
    operator = toleration.operator or "Equal"
    if operator not in ("Equal", "Exists"):
        causes.append(unsupported(f"{path}.operator", toleration.operator, ("Equal", "Exists")))
    elif not toleration.key and operator != "Exists":
        causes.append(invalid(f"{path}.operator", operator,
                              'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
    elif operator == "Exists" and toleration.value:
        causes.append(invalid(f"{path}.operator", toleration.value,
                              "value must be empty when `operator` is 'Exists'"))
    if toleration.effect and toleration.effect not in _TAINT_EFFECTS:
        causes.append(unsupported(f"{path}.effect", toleration.effect, _TAINT_EFFECTS))
    if toleration.toleration_seconds is not None and toleration.effect != "NoExecute":
        causes.append(invalid(f"{path}.effect", toleration.effect or "",
                              "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return causes


def _scheduling_gate_causes(spec: PodSpec, path: str) -> list[StatusCause]:
    """kube's validateSchedulingGates: qualified names, no duplicates (both named by the gate's index)."""
    causes: list[StatusCause] = []
    seen: set[str] = set()
    for i, gate in enumerate(spec.scheduling_gates or []):
        causes += [invalid(f"{path}[{i}]", gate.name, e) for e in qualified_name_errors(gate.name)]
        if gate.name in seen:
            causes.append(duplicate(f"{path}[{i}]", gate.name))
        seen.add(gate.name)
    return causes


def validate_pod_spec(spec: PodSpec, path: str, *, in_template: bool = False) -> list[StatusCause]:
    """``in_template``: ReplicaSets and Deployments only run pods that restart Always."""
    causes = [] if spec.containers else [required(f"{path}.containers")]
    names: set[str] = set()
    for i, container in enumerate(spec.containers):
        causes += validate_container(container, f"{path}.containers[{i}]")
        if container.name in names:
            causes.append(duplicate(f"{path}.containers[{i}].name", container.name))
        names.add(container.name)
    policies = ("Always",) if in_template else ("Always", "OnFailure", "Never")
    if spec.restart_policy is not None and spec.restart_policy not in policies:
        causes.append(unsupported(f"{path}.restartPolicy", spec.restart_policy, policies))
    if spec.node_name:
        causes += _name_causes(f"{path}.nodeName", spec.node_name, dns1123_subdomain_errors)
    causes += validate_labels(spec.node_selector, f"{path}.nodeSelector")
    causes += _scheduling_gate_causes(spec, f"{path}.schedulingGates")
    for i, toleration in enumerate(spec.tolerations or []):
        causes += validate_toleration(toleration, f"{path}.tolerations[{i}]")
    causes += _at_least(f"{path}.terminationGracePeriodSeconds", spec.termination_grace_period_seconds, 0)
    # kept, not acted on, but kube refuses what it could not use: 1 second up to int32's maximum
    causes += _in_range(f"{path}.activeDeadlineSeconds", (spec.model_extra or {}).get("activeDeadlineSeconds"),
                        1, 2**31 - 1)
    causes += _pod_config_causes(spec, path)
    return causes + validate_pod_security_context(spec.security_context, f"{path}.securityContext")


def validate_pod(pod: Pod) -> list[StatusCause]:
    causes = validate_metadata(pod.metadata, namespaced=True) + validate_pod_spec(pod.spec, "spec")
    if pod.spec.scheduling_gates and pod.spec.node_name:  # ValidatePodCreate (a bound pod cannot gain a gate)
        causes.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return causes


def _validate_replicated(spec: ReplicaSetSpec | DeploymentSpec, kind: str) -> list[StatusCause]:
    """What ReplicaSet and Deployment specs share: replicas, selector, template."""
    causes = _at_least("spec.replicas", spec.replicas, 0) + _at_least("spec.minReadySeconds", spec.min_ready_seconds, 0)
    if spec.selector is None:
        selector_causes = [required("spec.selector")]
    elif not spec.selector.match_labels and not spec.selector.match_expressions:
        selector_causes = [invalid("spec.selector", {}, f"empty selector is invalid for {kind}")]
    else:
        selector_causes = validate_label_selector(spec.selector, "spec.selector")
    causes += selector_causes
    if spec.template is None:
        return [*causes, required("spec.template")]
    labels = spec.template.metadata.labels if spec.template.metadata else None
    label_causes = validate_labels(labels, "spec.template.metadata.labels")
    causes += label_causes
    comparable = spec.selector is not None and not selector_causes and not label_causes
    if comparable and not selector_from_label_selector(spec.selector).matches(labels):
        causes.append(invalid("spec.template.metadata.labels", labels or {},
                              "`selector` does not match template `labels`"))
    return causes + validate_pod_spec(spec.template.spec or PodSpec(), "spec.template.spec", in_template=True)


def validate_replica_set_status(status: ReplicaSetStatus | None) -> list[StatusCause]:
    """Kubernetes' ValidateReplicaSetStatus: counters non-negative, none above ``replicas``, available <= ready."""
    if status is None:
        return []
    causes = []
    for name in ("replicas", "fully_labeled_replicas", "ready_replicas", "available_replicas", "observed_generation"):
        causes += _at_least(f"status.{ReplicaSetStatus.model_fields[name].alias}", getattr(status, name), 0)
    causes += _not_above("status.fullyLabeledReplicas", status.fully_labeled_replicas, status.replicas,
                         "status.replicas")
    causes += _not_above("status.readyReplicas", status.ready_replicas, status.replicas, "status.replicas")
    causes += _not_above("status.availableReplicas", status.available_replicas, status.replicas, "status.replicas")
    causes += _not_above("status.availableReplicas", status.available_replicas, status.ready_replicas,
                         "readyReplicas")
    return causes


def validate_replica_set(rs: ReplicaSet) -> list[StatusCause]:
    return (validate_metadata(rs.metadata, namespaced=True) + _validate_replicated(rs.spec, "replicaset")
            + validate_replica_set_status(rs.status))


def _validate_int_or_percent(value: int | str | None, path: str) -> list[StatusCause]:
    if value is None:
        return []
    if isinstance(value, int):
        return _at_least(path, value, 0)
    if not _PERCENT.fullmatch(value):
        return [invalid(path, value, "a valid percent string must be a numeric string followed by an ending '%' "
                                     "(e.g. '1%',  or '93%')")]
    return []


def _is_zero(value: int | str) -> bool:
    """``0``, ``"0%"`` or ``"00%"``: a syntactically valid value that allows no pods."""
    return value == 0 or (isinstance(value, str) and value[:-1].isdigit() and int(value[:-1]) == 0)


def validate_strategy(spec: DeploymentSpec) -> list[StatusCause]:
    strategy, path = spec.strategy, "spec.strategy"
    if strategy is None:
        return []
    if strategy.type not in (None, "RollingUpdate", "Recreate"):
        return [unsupported(f"{path}.type", strategy.type, ("Recreate", "RollingUpdate"))]
    rolling = strategy.rolling_update
    if strategy.type == "Recreate":
        if rolling is not None:
            return [forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if rolling is None:
        return []
    surge_path, unavailable_path = f"{path}.rollingUpdate.maxSurge", f"{path}.rollingUpdate.maxUnavailable"
    causes = _validate_int_or_percent(rolling.max_surge, surge_path)
    causes += _validate_int_or_percent(rolling.max_unavailable, unavailable_path)
    if causes:
        return causes
    unavailable = spec.effective_max_unavailable
    if isinstance(unavailable, str) and int(unavailable[:-1]) > 100:
        causes.append(invalid(unavailable_path, unavailable, "must not be greater than 100%"))
    if _is_zero(spec.effective_max_surge) and _is_zero(unavailable):
        causes.append(invalid(unavailable_path, unavailable, "may not be 0 when `maxSurge` is 0"))
    return causes


def validate_deployment(deployment: Deployment) -> list[StatusCause]:
    spec = deployment.spec
    causes = validate_metadata(deployment.metadata, namespaced=True) + _validate_replicated(spec, "deployment")
    causes += validate_strategy(spec)
    causes += _at_least("spec.revisionHistoryLimit", spec.revision_history_limit, 0)
    causes += _at_least("spec.progressDeadlineSeconds", spec.progress_deadline_seconds, 0)
    causes += validate_deployment_status(deployment.status)
    deadline = spec.progress_deadline_seconds
    if deadline is not None and deadline <= spec.effective_min_ready_seconds:
        causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return causes


def validate_deployment_status(status: DeploymentStatus | None) -> list[StatusCause]:
    """Kubernetes' ValidateDeploymentStatus: counters non-negative, none above ``replicas``, available <= ready."""
    if status is None:
        return []
    causes = []
    for name in ("observed_generation", "replicas", "updated_replicas", "ready_replicas", "available_replicas",
                 "unavailable_replicas", "collision_count"):
        causes += _at_least(f"status.{DeploymentStatus.model_fields[name].alias}", getattr(status, name), 0)
    for name in ("updated_replicas", "ready_replicas", "available_replicas"):
        causes += _not_above(f"status.{DeploymentStatus.model_fields[name].alias}", getattr(status, name),
                             status.replicas, "status.replicas")
    causes += _not_above("status.availableReplicas", status.available_replicas, status.ready_replicas,
                         "readyReplicas")
    return causes


def validate_taint(taint: Taint, path: str) -> list[StatusCause]:
    causes = [invalid(f"{path}.key", taint.key, e) for e in qualified_name_errors(taint.key)]
    causes += [invalid(f"{path}.value", taint.value, e) for e in label_value_errors(taint.value or "")]
    if taint.effect not in _TAINT_EFFECTS:
        causes.append(unsupported(f"{path}.effect", taint.effect, _TAINT_EFFECTS))
    return causes


def validate_node(node: Node) -> list[StatusCause]:
    causes = validate_metadata(node.metadata, namespaced=False)
    for i, taint in enumerate(node.taints):
        causes += validate_taint(taint, f"spec.taints[{i}]")
    return causes


def validate_namespace(namespace: Namespace) -> list[StatusCause]:
    return validate_metadata(namespace.metadata, namespaced=False, name_check=name_check_for("namespaces"))


def validate_event(event: Event) -> list[StatusCause]:
    causes = validate_metadata(event.metadata, namespaced=True)
    if event.type is not None and event.type not in ("Normal", "Warning"):
        causes.append(unsupported("type", event.type, ("Normal", "Warning")))
    return causes + _at_least("count", event.count, 0)


def validate_lease(lease: Lease) -> list[StatusCause]:
    causes = validate_metadata(lease.metadata, namespaced=True)
    duration = lease.spec.lease_duration_seconds
    if duration is not None and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    return causes + _at_least("spec.leaseTransitions", lease.spec.lease_transitions, 0)


def validate_object(obj: KubeObject) -> list[StatusCause]:
    """All semantic errors of ``obj``; empty if it may be stored."""
    match obj:
        case Pod():
            return validate_pod(obj)
        case ReplicaSet():
            return validate_replica_set(obj)
        case Deployment():
            return validate_deployment(obj)
        case Node():
            return validate_node(obj)
        case Namespace():
            return validate_namespace(obj)
        case Event():
            return validate_event(obj)
        case Lease():
            return validate_lease(obj)

    name_check = path_segment_name_errors if obj.kind in _PATH_SEGMENT_NAMED else dns1123_subdomain_errors
    return (validate_metadata(obj.metadata, namespaced=obj.metadata.namespace is not None, name_check=name_check)
            + document_causes(obj.kind or "", obj.to_dict()))


def _semantic_causes(obj: KubeObject, old: KubeObject | None) -> list[StatusCause]:
    """:func:`validate_object`'s causes, but a Pod whose spec is the stored object's own (a status write
    keeps it: the same model) gets its metadata checked only: that spec was checked when it was stored, or
    its causes are the stored object's and ratcheted away (issue 12: the agent's hottest write)."""
    if isinstance(obj, Pod) and isinstance(old, Pod) and obj.spec is old.spec:
        return validate_metadata(obj.metadata, namespaced=True)
    return validate_object(obj)


def validate_for_storage(
    obj: KubeObject, doc: dict[str, Any], *, strict_fields: bool, old: KubeObject | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The check every object passes on its way to etcd, whoever writes it (kube's registry validates every writer).

    ``doc`` is ``obj`` as it will be stored (camelCase, no nulls). Returns the
    document to store and the paths of fields Kubernetes does not have, which
    are dropped (as kube-apiserver drops them under ``fieldValidation=Warn``)
    unless ``strict_fields``, where they are refused like everything else:
    an ApiError 422 naming each field (undecodable values, e.g. an int32 out of
    range, and every semantic rule of :func:`validate_object`).

    ``old``, on updates: a problem the stored object already has is not the
    writer's (ratcheting, as Kubernetes does for rules that tightened), so an
    object stored before a rule existed still takes status writes and
    finalizer removals; what the write adds must be valid.
    """
    kind = obj.kind or ""
    if named_like_built_in(obj):  # a custom resource (its schema was checked against its CRD): names only
        causes = validate_metadata(obj.metadata, namespaced=obj.metadata.namespace is not None)
        if causes:
            raise errors.invalid(kind, obj.name, causes, group=api_group(obj.api_version))
        return doc, []
    findings = check_document(doc, kind)
    causes = list(findings.causes)
    if findings.unknown and strict_fields:
        causes += [StatusCause(field=path, reason="FieldValueNotSupported", message=f'unknown field "{path}"')
                   for path in findings.unknown]
    causes += _semantic_causes(obj, old)
    if causes and old is not None:
        before = {(c.field, c.message) for c in check_document(old.to_dict(), kind).causes + validate_object(old)}
        causes = [c for c in causes if (c.field, c.message) not in before]
    if causes:
        res = resource_for_kind(kind)
        raise errors.invalid(kind, obj.name, causes, group=res.group if res else "")
    return (prune(doc, findings.unknown) if findings.unknown else doc), findings.unknown
