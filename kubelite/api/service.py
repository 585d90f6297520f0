"""Service v1 write rules on the stored document: defaulting, validation, immutables.

Pure functions on the JSON document (camelCase); the Store applies them for every
writer through :data:`kubelite.api.documents.DOCUMENT_RULES`. Address and port allocation
(which needs etcd) lives in :mod:`kubelite.registry.service_alloc`.

Kubernetes sources: ``pkg/apis/core/v1/defaults.go`` (SetDefaults_Service,
SetDefaults_ServicePort), ``pkg/registry/core/service/strategy.go`` and
``storage/alloc.go`` (ipFamilyPolicy/ipFamilies/clusterIPs, patching allocated
values an update left out), ``pkg/apis/core/validation/validation.go``
(ValidateService, ValidateServiceUpdate) and ``apimachinery/pkg/util/validation``
(IsValidPortName: IANA_SVC_NAME).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from kubelite.api.errors import StatusCause, quote_value

Doc = dict[str, Any]

CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"
EXTERNAL_NAME = "ExternalName"
TYPES = (CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_NAME)
NONE = "None"  # clusterIP of a headless service
PROTOCOLS = ("TCP", "UDP", "SCTP")
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds (3 h), v1.DefaultClientIPServiceAffinitySeconds
MAX_AFFINITY_TIMEOUT = 86400

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SVC_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")


# -- facts other modules ask ----------------------------------------------------------

def spec_of(doc: Doc) -> Doc:
    spec = doc.get("spec")
    return spec if isinstance(spec, dict) else {}


def service_type(doc: Doc) -> str:
    return str(spec_of(doc).get("type") or CLUSTER_IP)


def needs_cluster_ip(doc: Doc) -> bool:
    """A service that gets a virtual IP: not ExternalName, not headless."""
    spec = spec_of(doc)
    return service_type(doc) != EXTERNAL_NAME and spec.get("clusterIP") != NONE


def needs_node_ports(doc: Doc) -> bool:
    return service_type(doc) in (NODE_PORT, LOAD_BALANCER)


def is_headless(doc: Doc) -> bool:
    return spec_of(doc).get("clusterIP") == NONE


def port_name_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA_SVC_NAME (RFC 6335), or None (apimachinery IsValidPortName)."""
    if len(name) > 15:
        return "must be no more than 15 characters"
    if not _SVC_NAME_CHARS.match(name):
        return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
    if "--" in name:
        return "must not contain consecutive hyphens"
    if not re.search(r"[a-z]", name):
        return "must contain at least one letter (a-z)"
    if name.startswith("-") or name.endswith("-"):
        return "must not begin or end with a hyphen"
    return None


# -- defaulting -----------------------------------------------------------------------

def default_service(doc: Doc) -> Doc:
    """``doc`` with kube's defaults (a copy): type, sessionAffinity (+ClientIP timeout), port
    protocol and targetPort, internal/externalTrafficPolicy, and for services with a virtual IP
    or headless ones ipFamilyPolicy, ipFamilies and clusterIPs (single-stack IPv4)."""
    doc = copy.deepcopy(doc)
    spec = doc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return doc
    kind = spec.setdefault("type", CLUSTER_IP)
    affinity = spec.setdefault("sessionAffinity", "None")
    if affinity == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {})
        if isinstance(config, dict):
            client_ip = config.setdefault("clientIP", {})
            if isinstance(client_ip, dict):
                client_ip.setdefault("timeoutSeconds", DEFAULT_AFFINITY_TIMEOUT)
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if kind == EXTERNAL_NAME:
        return doc
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in (NODE_PORT, LOAD_BALANCER):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == LOAD_BALANCER:
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    cluster_ip = spec.get("clusterIP")
    if not cluster_ip and spec.get("clusterIPs"):
        cluster_ip = spec["clusterIP"] = spec["clusterIPs"][0]
    if cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    if "ipFamilyPolicy" not in spec:
        dual = cluster_ip == NONE and not spec.get("selector")  # selector-less headless: any family
        spec["ipFamilyPolicy"] = "RequireDualStack" if dual else "SingleStack"
    spec.setdefault("ipFamilies", ["IPv4"])
    return doc


def keep_allocated(old: Doc, new: Doc) -> Doc:
    """An update that left out what was allocated keeps it (alloc.go patchAllocatedValues): the
    clusterIP(s) while the service still needs one, and each port's nodePort, by port name."""
    new = copy.deepcopy(new)
    old_spec, spec = spec_of(old), new.setdefault("spec", {})
    if not isinstance(spec, dict):
        return new
    if needs_cluster_ip(old) and needs_cluster_ip(new) and not spec.get("clusterIP"):
        spec["clusterIP"] = old_spec.get("clusterIP")
        if not spec.get("clusterIPs"):
            spec["clusterIPs"] = old_spec.get("clusterIPs")
    if service_type(new) == EXTERNAL_NAME and service_type(old) != EXTERNAL_NAME:
        # the type dropped its virtual IP: the fields that came with it go (dropTypeDependentFields)
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if spec.get(field) == old_spec.get(field):
                spec.pop(field, None)
    if needs_node_ports(old) and needs_node_ports(new):
        new_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        used = {p.get("nodePort") for p in new_ports if p.get("nodePort")}
        by_name = {p.get("name", ""): p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        for port in new_ports:
            if not port.get("nodePort"):
                previous = by_name.get(port.get("name", ""))
                if previous and previous not in used:
                    port["nodePort"] = previous
                    used.add(previous)
    elif needs_node_ports(old) and not needs_node_ports(new):  # NodePort → ClusterIP releases them
        old_ports = {p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort") in old_ports:
                port.pop("nodePort", None)
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    return new


# -- validation -----------------------------------------------------------------------

def _cause(path: str, value: Any, message: str, reason: str = "FieldValueInvalid") -> StatusCause:
    return StatusCause(field=path, reason=reason, message=f"Invalid value: {quote_value(value)}: {message}")


def _required(path: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueRequired", message="Required value")


def _forbidden(path: str, message: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueForbidden", message=f"Forbidden: {message}")


def _unsupported(path: str, value: Any, allowed: tuple[str, ...]) -> StatusCause:
    listed = ", ".join(f'"{a}"' for a in allowed)
    return StatusCause(field=path, reason="FieldValueNotSupported",
                       message=f"Unsupported value: {quote_value(value)}: supported values: {listed}")


def _duplicate(path: str, value: Any) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueDuplicate", message=f"Duplicate value: {quote_value(value)}")


def validate_service(doc: Doc) -> list[StatusCause]:
    """Causes for an invalid Service (ValidateService, after defaulting); [] when it may be stored.
    Address ranges are the allocator's (they depend on the cluster's flags)."""
    spec = spec_of(doc)
    kind = spec.get("type", CLUSTER_IP)
    if kind not in TYPES:
        return [_unsupported("spec.type", kind, TYPES)]
    causes = _validate_ports(spec, kind)
    if kind == EXTERNAL_NAME:
        name = spec.get("externalName")
        if not name:
            causes.append(_required("spec.externalName"))
        elif len(name) > 253 or not _DNS_SUBDOMAIN.match(str(name).rstrip(".")):
            causes.append(_cause("spec.externalName", name, "a lowercase RFC 1123 subdomain must consist of lower case "
                                 "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"))
    else:
        causes += _validate_cluster_ips(spec, kind)
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("None", "ClientIP"):
        causes.append(_unsupported("spec.sessionAffinity", affinity, ("ClientIP", "None")))
    elif affinity == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        if not isinstance(timeout, int) or not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
            causes.append(_cause("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                                 f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}"))
    elif spec.get("sessionAffinityConfig"):
        causes.append(_forbidden("spec.sessionAffinityConfig", "must not be set when `sessionAffinity` is None"))
    for field, allowed in (("internalTrafficPolicy", ("Cluster", "Local")), ("externalTrafficPolicy", ("Cluster", "Local"))):
        if field in spec and spec[field] not in allowed:
            causes.append(_unsupported(f"spec.{field}", spec[field], allowed))
    return causes


def type_unused_causes(doc: Doc) -> list[StatusCause]:
    """Fields the service's type does not use (checked on the stored form: an update that changes the
    type drops the ones it carried over, :func:`keep_allocated`, before this applies)."""
    spec, kind = spec_of(doc), service_type(doc)
    causes = []
    if kind in (CLUSTER_IP, EXTERNAL_NAME):
        for index, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict) and port.get("nodePort"):
                causes.append(_forbidden(f"spec.ports[{index}].nodePort", f"may not be used when `type` is '{kind}'"))
    if kind == EXTERNAL_NAME and spec.get("clusterIP"):
        causes.append(_forbidden("spec.clusterIP", "may not be set for ExternalName services"))
    if spec.get("externalTrafficPolicy") and kind not in (NODE_PORT, LOAD_BALANCER):
        causes.append(_forbidden("spec.externalTrafficPolicy", "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
    return causes


def _validate_ports(spec: Doc, kind: str) -> list[StatusCause]:
    causes: list[StatusCause] = []
    ports = spec.get("ports") or []
    if not ports and kind != EXTERNAL_NAME and spec.get("clusterIP") != NONE:
        causes.append(_required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        if not isinstance(port, dict):
            continue
        name = port.get("name") or ""
        if not name and len(ports) > 1:
            causes.append(_required(f"{path}.name"))
        elif name:
            if not _DNS_LABEL.match(name) or len(name) > 63:
                causes.append(_cause(f"{path}.name", name, "a lowercase RFC 1123 label must consist of lower case "
                                     "alphanumeric characters or '-', and must start and end with an alphanumeric character"))
            if name in names:
                causes.append(_duplicate(f"{path}.name", name))
            names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(_cause(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            causes.append(_unsupported(f"{path}.protocol", protocol, PROTOCOLS))
        key = (number, protocol)
        if key in seen:
            causes.append(_duplicate(path, {"port": number, "protocol": protocol}))
        seen.add(key)
        causes += _validate_target_port(f"{path}.targetPort", port.get("targetPort"))
        node_port = port.get("nodePort")
        if node_port and kind not in (CLUSTER_IP, EXTERNAL_NAME):
            if (node_port, protocol) in node_ports:
                causes.append(_duplicate(f"{path}.nodePort", node_port))
            node_ports.add((node_port, protocol))
    return causes


def _validate_target_port(path: str, target: Any) -> list[StatusCause]:
    if isinstance(target, int):
        return [] if 1 <= target <= 65535 else [_cause(path, target, "must be between 1 and 65535, inclusive")]
    if isinstance(target, str):
        problem = port_name_problem(target)
        return [_cause(path, target, problem)] if problem else []
    return []


def _validate_cluster_ips(spec: Doc, kind: str) -> list[StatusCause]:
    causes: list[StatusCause] = []
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = spec.get("clusterIPs") or []
    if cluster_ips and cluster_ip and cluster_ips[0] != cluster_ip:
        causes.append(_cause("spec.clusterIPs[0]", cluster_ips[0], "must be same as clusterIP"))
    if len(cluster_ips) > 1:
        causes.append(_cause("spec.clusterIPs", cluster_ips, "may contain at most one IP for a single-stack cluster"))
    for index, value in enumerate(cluster_ips[:1] or ([cluster_ip] if cluster_ip else [])):
        if value == NONE:
            if kind != CLUSTER_IP:
                causes.append(_cause(f"spec.clusterIPs[{index}]", value, f"may not be set to 'None' for {kind} services"))
            continue
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            causes.append(_cause(f"spec.clusterIPs[{index}]", value,
                                 "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    families = spec.get("ipFamilies") or []
    if any(f != "IPv4" for f in families):
        causes.append(_cause("spec.ipFamilies", families, "this cluster serves IPv4 only"))
    policy = spec.get("ipFamilyPolicy")
    allowed = ("SingleStack", "PreferDualStack", "RequireDualStack")
    if policy is not None and policy not in allowed:
        causes.append(_unsupported("spec.ipFamilyPolicy", policy, allowed))
    return causes


def service_immutable(old: Doc, new: Doc) -> list[StatusCause]:
    """ValidateServiceUpdate: a virtual IP, once given, stays while the service keeps one."""
    before, after = spec_of(old).get("clusterIP"), spec_of(new).get("clusterIP")
    if before and service_type(new) != EXTERNAL_NAME and service_type(old) != EXTERNAL_NAME and after != before:
        return [StatusCause(field="spec.clusterIPs[0]", reason="FieldValueInvalid",
                            message=f"Invalid value: {quote_value(after)}: may not change once set")]
    return []
