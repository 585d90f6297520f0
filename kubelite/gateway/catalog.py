"""What the gateway serves for each kind: subresources, verbs, field selectors.

One place that discovery, OpenAPI, routing and list filtering read, so they
never disagree about what exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.api import resources as r
from kubelite.api.crd import CustomVersion
from kubelite.api.resources import (
    DEPLOYMENTS,
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    REPLICASETS,
    Resource,
)

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# kube-apiserver serves no deletecollection on namespaces (its namespace REST storage has none).
_NAMESPACE_VERBS = tuple(v for v in ALL_VERBS if v != "deletecollection")
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class Subresource:
    name: str
    verbs: tuple[str, ...]
    group: str | None = None  # response kind's group/version/kind when not the parent's
    version: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Served:
    resource: Resource
    subresources: tuple[Subresource, ...] = ()
    categories: tuple[str, ...] = ()
    field_labels: tuple[str, ...] = field(default=())
    verbs: tuple[str, ...] = ALL_VERBS  # of the resource itself (discovery, OpenAPI and routing read it)
    # DELETE answers with the deleted object, not a Status: kube's registry sets ReturnDeletedObject for these
    # (the OpenAPI document's delete response names the kind)
    returns_deleted: bool = False
    custom: CustomVersion | None = None  # a CRD's version (kubelite.gateway.crds), served while it exists

    @property
    def selectable_fields(self) -> tuple[str, ...]:
        return _COMMON_FIELDS + self.field_labels

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


STATUS = _STATUS = Subresource("status", ("get", "patch", "update"))
SCALE = _SCALE = Subresource("scale", ("get", "patch", "update"), "autoscaling", "v1", "Scale")

# kubelite/gateway/proxy.py: HTTP relayed to a pod, or to one ready endpoint of a Service
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
_PROXY_POD = Subresource("proxy", _PROXY_VERBS, "", "v1", "PodProxyOptions")
_PROXY_SERVICE = Subresource("proxy", _PROXY_VERBS, "", "v1", "ServiceProxyOptions")
_PROXY_NODE = Subresource("proxy", _PROXY_VERBS, "", "v1", "NodeProxyOptions")  # to the node's agent (kubelet)

SERVED: tuple[Served, ...] = (
    Served(NAMESPACES, (_STATUS, Subresource("finalize", ("update",))), field_labels=("status.phase",),
           verbs=_NAMESPACE_VERBS, returns_deleted=True),
    Served(NODES, (_STATUS, _PROXY_NODE), field_labels=("spec.unschedulable",)),
    Served(
        PODS,
        (
            _STATUS,
            Subresource("log", ("get",), "", "v1", "Pod"),
            Subresource("eviction", ("create",), "policy", "v1", "Eviction"),
            Subresource("binding", ("create",), "", "v1", "Binding"),
            # streaming (kubelite/gateway/streaming.py); kube-apiserver lists them with create and get
            Subresource("exec", ("create", "get"), "", "v1", "PodExecOptions"),
            Subresource("attach", ("create", "get"), "", "v1", "PodAttachOptions"),
            Subresource("portforward", ("create", "get"), "", "v1", "PodPortForwardOptions"),
            _PROXY_POD,
        ),
        categories=("all",),
        returns_deleted=True,
        field_labels=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                      "status.phase", "status.podIP", "status.nominatedNodeName"),
    ),
    Served(
        EVENTS,
        field_labels=(
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        ),
    ),
    # the same objects in events.k8s.io/v1's shape (kubelite.api.events_v1)
    Served(r.EVENTS_V1, field_labels=("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                                      "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath",
                                      "reason", "reportingController", "type")),
    Served(REPLICASETS, (_STATUS, _SCALE), categories=("all",), field_labels=("status.replicas",)),
    Served(DEPLOYMENTS, (_STATUS, _SCALE), categories=("all",)),
    Served(LEASES),
    # stored-only kinds: kube-apiserver 1.32's subresources and categories
    Served(r.CONFIGMAPS),
    Served(r.SECRETS, field_labels=("type",)),
    Served(r.SERVICEACCOUNTS, (Subresource("token", ("create",), "authentication.k8s.io", "v1", "TokenRequest"),),
           returns_deleted=True),
    Served(r.SERVICES, (_STATUS, _PROXY_SERVICE), categories=("all",), returns_deleted=True),
    Served(r.ENDPOINTS),
    Served(r.PERSISTENTVOLUMECLAIMS, (_STATUS,), returns_deleted=True),
    Served(r.PERSISTENTVOLUMES, (_STATUS,), returns_deleted=True),
    Served(r.REPLICATIONCONTROLLERS, (_STATUS, _SCALE), categories=("all",), field_labels=("status.replicas",)),
    Served(r.LIMITRANGES),
    Served(r.RESOURCEQUOTAS, (_STATUS,), returns_deleted=True),
    Served(r.ROLES),
    Served(r.ROLEBINDINGS),
    Served(r.CLUSTERROLES),
    Served(r.CLUSTERROLEBINDINGS),
    Served(r.INGRESSES, (_STATUS,)),
    Served(r.NETWORKPOLICIES),
    Served(r.INGRESSCLASSES),
    Served(r.PODDISRUPTIONBUDGETS, (_STATUS,)),
    Served(r.JOBS, (_STATUS,), categories=("all",), field_labels=("status.successful",)),
    Served(r.CRONJOBS, (_STATUS,), categories=("all",)),
    Served(r.DAEMONSETS, (_STATUS,), categories=("all",)),
    Served(r.STATEFULSETS, (_STATUS, _SCALE), categories=("all",)),
    Served(r.CONTROLLERREVISIONS),
    Served(r.STORAGECLASSES, returns_deleted=True),
    Served(r.CSIDRIVERS, returns_deleted=True),
    Served(r.CSINODES, returns_deleted=True),
    Served(r.VOLUMEATTACHMENTS, (_STATUS,), returns_deleted=True),
    Served(r.CSISTORAGECAPACITIES),
    Served(r.PODTEMPLATES, returns_deleted=True),
    Served(r.PRIORITYCLASSES),
    Served(r.ENDPOINTSLICES),
    Served(r.HORIZONTALPODAUTOSCALERS, (_STATUS,), categories=("all",)),
    Served(r.CUSTOMRESOURCEDEFINITIONS, (_STATUS,), categories=("api-extensions",), returns_deleted=True),
    Served(r.VALIDATINGWEBHOOKCONFIGURATIONS, categories=("api-extensions",)),
    Served(r.MUTATINGWEBHOOKCONFIGURATIONS, categories=("api-extensions",)),
    Served(r.VALIDATINGADMISSIONPOLICIES, (_STATUS,), categories=("api-extensions",)),
    Served(r.VALIDATINGADMISSIONPOLICYBINDINGS, categories=("api-extensions",)),
    Served(r.CERTIFICATESIGNINGREQUESTS, (_STATUS, Subresource("approval", ("get", "patch", "update")))),
    Served(r.APISERVICES, (_STATUS,), categories=("api-extensions",)),
)


@dataclass(frozen=True)
class View:
    """A kind served in a second version, converted from the stored one (``kubelite.gateway.hpa_v1``)."""

    group: str
    version: str
    stored: Served
    verbs: tuple[str, ...]
    subresources: tuple[Subresource, ...] = ()


VIEWS: tuple[View, ...] = (
    View("autoscaling", "v1", next(s for s in SERVED if s.resource is r.HORIZONTALPODAUTOSCALERS),
         ("create", "delete", "get", "list", "update"), (Subresource("status", ("get", "update")),)),
)


def group_versions() -> list[tuple[str, str]]:
    """('', 'v1'), ('apps', 'v1'), ... in a stable order, core first."""
    seen: list[tuple[str, str]] = []
    for served in SERVED:
        gv = (served.resource.group, served.resource.version)
        if gv not in seen:
            seen.append(gv)
    return seen


def served_in(group: str, version: str) -> list[Served]:
    return [s for s in SERVED if (s.resource.group, s.resource.version) == (group, version)]


# Every request resolves its resource here: one dict probe, not a scan of the ~70 kinds.
_BY_GVR: dict[tuple[str, str, str], Served] = {}
for _served in SERVED:
    _BY_GVR.setdefault((_served.resource.group, _served.resource.version, _served.resource.plural), _served)


def lookup(group: str, version: str, plural: str) -> Served | None:
    """The built-in kind served at group/version/plural, or None."""
    return _BY_GVR.get((group, version, plural))


def for_resource(resource: Resource) -> Served:
    return next(s for s in SERVED if s.resource is resource)
