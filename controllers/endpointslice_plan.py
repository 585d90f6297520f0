"""What a Service's EndpointSlices and Endpoints should hold: pure (service, pods, slices) → plan.

Follows kube-controller-manager's endpointslice and endpoints controllers
(``pkg/controller/endpointslice``, ``staging/.../endpointslice/util``, ``pkg/controller/endpoint``):

- a pod counts when it matches the selector, is not finished (Succeeded/Failed) and has a podIP;
- conditions: ``serving`` = the pod is Ready, ``terminating`` = it has a deletionTimestamp,
  ``ready`` = serving and not terminating (always true with ``publishNotReadyAddresses``);
- each service port's ``targetPort`` is resolved per pod (a name → that pod's container port of
  that name and protocol; a pod lacking it gets no such port), and pods are grouped into slices
  by their resolved port list; at most :data:`MAX_ENDPOINTS_PER_SLICE` endpoints per slice;
- an endpoint stays in the slice it is in while it stays wanted (no churn), new ones fill the
  slices with room first, emptied slices go; a service with no endpoints keeps one empty slice;
- legacy Endpoints: ready pods in ``addresses``, not-ready ones in ``notReadyAddresses``,
  terminating pods left out (unless ``publishNotReadyAddresses``), one subset per port list.

Plain data in and out (documents as dicts, pods as :class:`Pod`); tested without I/O.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.core import Pod

Doc = dict[str, Any]
MAX_ENDPOINTS_PER_SLICE = 100
MANAGED_BY = "endpointslice-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
PortKey = tuple[tuple[str, int, str], ...]  # ((name, port, protocol), ...) of one slice


def selects(service: Doc, pod: Pod) -> bool:
    if pod.metadata.namespace != (service.get("metadata") or {}).get("namespace"):
        return False
    return selector_selects((service.get("spec") or {}).get("selector"), pod)


def selector_selects(selector: Any, pod: Pod) -> bool:
    """Whether a Service's ``spec.selector`` (a label map) selects the pod; an empty or absent one
    selects nothing here (such a Service's endpoints are not managed by the controller)."""
    if not selector:
        return False
    labels = pod.metadata.labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def counts(pod: Pod) -> bool:
    """ShouldPodBeInEndpoints (terminating pods included: slices show them as terminating)."""
    return not pod.is_terminated() and bool(pod.status and pod.status.pod_ip)


def resolve_port(service_port: Doc, pod: Pod) -> int | None:
    """The pod's port for a service port (podutil.FindPort), or None when it has none of that name."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol", "TCP")
    if isinstance(target, int):
        return target
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.name == target and (port.protocol or "TCP") == protocol:
                return port.container_port
    return None


def pod_ports(service: Doc, pod: Pod) -> PortKey:
    resolved = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = resolve_port(port, pod)
        if number is not None:
            resolved.append((str(port.get("name") or ""), number, str(port.get("protocol") or "TCP")))
    return tuple(resolved)


def _hostname(service: Doc, pod: Pod) -> str | None:
    """ShouldSetHostname: the pod names a hostname and this service as its subdomain."""
    hostname, subdomain = pod.spec.hostname, pod.spec.subdomain
    return hostname if hostname and subdomain == (service.get("metadata") or {}).get("name") else None


def endpoint_of(service: Doc, pod: Pod) -> Doc:
    serving = pod.is_ready()
    terminating = pod.metadata.deletion_timestamp is not None
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    endpoint: Doc = {"addresses": [pod.status.pod_ip if pod.status else ""],
                     "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                     "targetRef": {"kind": "Pod", "namespace": pod.metadata.namespace, "name": pod.metadata.name,
                                   "uid": pod.metadata.uid}}
    hostname = _hostname(service, pod)
    if hostname:
        endpoint["hostname"] = hostname
    if pod.spec.node_name:
        endpoint["nodeName"] = pod.spec.node_name
    return endpoint


def _ports_doc(key: PortKey) -> list[Doc]:
    ports = []
    for name, number, protocol in key:
        port: Doc = {"name": name, "port": number, "protocol": protocol}
        ports.append(port)
    return ports


def _key_of_slice(slice_: Doc) -> PortKey:
    return tuple((str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"))
                 for p in slice_.get("ports") or [])


def _endpoint_id(endpoint: Doc) -> str:
    ref = endpoint.get("targetRef") or {}
    return f"{ref.get('name', '')}/{(endpoint.get('addresses') or [''])[0]}"


def slice_labels(service: Doc) -> dict[str, str]:
    meta = service.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in (LABEL_SERVICE_NAME, LABEL_MANAGED_BY)}
    labels[LABEL_SERVICE_NAME] = meta.get("name", "")
    labels[LABEL_MANAGED_BY] = MANAGED_BY
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[LABEL_HEADLESS] = ""
    return labels


@dataclass
class SlicePlan:
    create: list[Doc] = field(default_factory=list)  # new slices (generateName), without owner references
    update: list[Doc] = field(default_factory=list)  # changed copies of existing slices
    delete: list[str] = field(default_factory=list)  # names

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def plan_slices(service: Doc, pods: list[Pod], slices: list[Doc], *,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> SlicePlan:
    """The writes that make ``slices`` (this service's managed ones) hold the service's pods."""
    wanted: dict[PortKey, dict[str, Doc]] = {}
    for pod in sorted(pods, key=lambda p: p.metadata.name or ""):
        if selects(service, pod) and counts(pod):
            endpoint = endpoint_of(service, pod)
            wanted.setdefault(pod_ports(service, pod), {})[_endpoint_id(endpoint)] = endpoint
    labels = slice_labels(service)
    meta = service.get("metadata") or {}
    plan = SlicePlan()
    kept: list[Doc] = []
    by_key: dict[PortKey, list[Doc]] = {}
    for slice_ in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name", "")):
        by_key.setdefault(_key_of_slice(slice_), []).append(slice_)
    for key, existing in by_key.items():
        endpoints = wanted.get(key, {})
        for slice_ in existing:
            held = [endpoints.pop(_endpoint_id(e)) for e in slice_.get("endpoints") or [] if _endpoint_id(e) in endpoints]
            changed = copy.deepcopy(slice_)
            changed["endpoints"] = held
            changed.setdefault("metadata", {})["labels"] = {**((slice_.get("metadata") or {}).get("labels") or {}),
                                                            **labels}
            kept.append(changed)
    for key, endpoints in wanted.items():  # what is left goes into slices with room, then new slices
        pending = list(endpoints.values())
        for slice_ in (s for s in kept if _key_of_slice(s) == key):
            room = max_per_slice - len(slice_["endpoints"])
            if room > 0 and pending:
                slice_["endpoints"] += pending[:room]
                pending = pending[room:]
        while pending:
            plan.create.append(_new_slice(meta, labels, key, pending[:max_per_slice], service))
            pending = pending[max_per_slice:]
    empty_kept = [s for s in kept if not s["endpoints"]]
    if not plan.create and len(empty_kept) == len(kept) and kept:
        placeholder, empty_kept = empty_kept[0], empty_kept[1:]  # no endpoints at all: keep one empty slice
        placeholder["ports"] = []
    for slice_ in kept:
        if slice_ in empty_kept:
            plan.delete.append(slice_["metadata"]["name"])
        elif slice_ != next(s for s in slices if s["metadata"]["name"] == slice_["metadata"]["name"]):
            plan.update.append(slice_)
    if not slices and not plan.create:
        plan.create.append(_new_slice(meta, labels, (), [], service))
    return plan


def _new_slice(meta: Doc, labels: dict[str, str], key: PortKey, endpoints: list[Doc], service: Doc) -> Doc:
    name = str(meta.get("name", ""))
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"generateName": f"{name[:57]}-", "namespace": meta.get("namespace"), "labels": dict(labels)},
            "endpoints": endpoints, "ports": _ports_doc(key)}


def desired_endpoints(service: Doc, pods: list[Pod]) -> Doc:
    """The legacy Endpoints object for a service with a selector (without identity metadata)."""
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    subsets: dict[PortKey, dict[str, list[Doc]]] = {}
    for pod in pods:
        if not (selects(service, pod) and counts(pod)):
            continue
        terminating = pod.metadata.deletion_timestamp is not None
        if terminating and not publish:
            continue
        address: Doc = {"ip": pod.status.pod_ip if pod.status else "",
                        "targetRef": {"kind": "Pod", "namespace": pod.metadata.namespace, "name": pod.metadata.name,
                                      "uid": pod.metadata.uid}}
        hostname = _hostname(service, pod)
        if hostname:
            address["hostname"] = hostname
        if pod.spec.node_name:
            address["nodeName"] = pod.spec.node_name
        bucket = subsets.setdefault(pod_ports(service, pod), {"addresses": [], "notReadyAddresses": []})
        bucket["addresses" if publish or pod.is_ready() else "notReadyAddresses"].append(address)
    result = []
    for key, bucket in sorted(subsets.items()):
        subset: Doc = {k: sorted(v, key=lambda a: a["ip"]) for k, v in bucket.items() if v}
        ports = _ports_doc(key)
        if ports:
            subset["ports"] = [{k: v for k, v in p.items() if v != ""} for p in ports]
        result.append(subset)
    meta = service.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items()}
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[LABEL_HEADLESS] = ""
    doc: Doc = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")}}
    if labels:
        doc["metadata"]["labels"] = labels
    if result:
        doc["subsets"] = result
    return doc

