"""The kinds kubelite serves, and where each lives in etcd.

Key layout (docs/etcd-keys.md): ``/registry/<plural>/[<namespace>/]<name>``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic

from typing_extensions import TypeVar

from kubelite.api.apps import Deployment, ReplicaSet
from kubelite.api.coordination import Lease
from kubelite.api.core import Event, Namespace, Node, Pod
from kubelite.api import events_v1
from kubelite.api.generic import StoredDocument, document_model
from kubelite.api.meta import KubeObject

REGISTRY_ROOT = "/registry"

# The kind's model class: ``PODS: Resource[Pod]``, so ``store.get(PODS, ...)`` and ``Informer(store, PODS)``
# give ``Pod``s. Covariant: a ``Resource[Pod]`` is a ``Resource[KubeObject]`` (``res.model`` is read-only). A bare
# ``Resource`` (code handling every kind: the gateway, GC, namespace deletion) means ``Resource[KubeObject]``.
M = TypeVar("M", bound=KubeObject, covariant=True, default=KubeObject)


@dataclass(frozen=True)
class Conversion:
    """A resource served in another shape than it is stored (events.k8s.io/v1 Events are core v1
    Events in etcd): the store converts every document it reads and writes."""

    to_served: Callable[[dict[str, Any]], dict[str, Any]]
    to_stored: Callable[[dict[str, Any]], dict[str, Any]]
    stored: type[KubeObject]  # the stored form's model: what storage validation checks


@dataclass(frozen=True)
class Resource(Generic[M]):
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    model: type[M] = field(repr=False)
    short_names: tuple[str, ...] = ()
    # a custom resource (kubelite.api.crd): stored under /registry/<group>/<plural>/ as kube-apiserver
    # does, read back as this version (the CRD's `None` conversion only rewrites apiVersion)
    custom: bool = False
    # False: status is an ordinary part of the object, written by main-resource updates (a CRD version
    # without the status subresource)
    status_subresource: bool = True
    # a custom resource's CRD storage version: objects written through any version are stored as it
    storage_version: str = ""
    conversion: Conversion | None = None  # served in another shape than stored (shares the stored kind's keys)

    @property
    def schema_kind(self) -> str:
        """The kind's key in ``k8s_schema.json`` roots: ``<apiVersion>/<kind>`` for a converted resource."""
        return f"{self.api_version}/{self.kind}" if self.conversion is not None else self.kind

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def root(self) -> str:
        return f"{REGISTRY_ROOT}/{self.group}/{self.plural}" if self.custom else f"{REGISTRY_ROOT}/{self.plural}"

    def prefix(self, namespace: str | None = None) -> str:
        """Key prefix of all objects, or of one namespace's objects (ends with '/')."""
        if self.namespaced and namespace:
            return f"{self.root}/{namespace}/"
        return f"{self.root}/"

    def key(self, name: str, namespace: str | None = None) -> str:
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} {name!r} is namespaced: a namespace is required")
            return f"{self.root}/{namespace}/{name}"
        return f"{self.root}/{name}"

    def key_of(self, obj: KubeObject) -> str:
        return self.key(obj.metadata.name or "", obj.metadata.namespace)


NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False, Namespace, ("ns",))
NODES = Resource("", "v1", "Node", "nodes", False, Node, ("no",))
PODS = Resource("", "v1", "Pod", "pods", True, Pod, ("po",))
EVENTS = Resource("", "v1", "Event", "events", True, Event, ("ev",))
REPLICASETS = Resource("apps", "v1", "ReplicaSet", "replicasets", True, ReplicaSet, ("rs",))
DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True, Deployment, ("deploy",))
LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases", True, Lease)



def _stored(group: str, kind: str, plural: str, namespaced: bool, *short_names: str) -> Resource[StoredDocument]:
    """A kind kubelite stores and serves but no component acts on (yet): a generic document model."""
    api_version = f"{group}/v1" if group else "v1"
    return Resource(group, "v1", kind, plural, namespaced, document_model(api_version, kind), short_names)


# kube-apiserver 1.32's short names (`kubectl api-resources`)
CONFIGMAPS = _stored("", "ConfigMap", "configmaps", True, "cm")
SECRETS = _stored("", "Secret", "secrets", True)
SERVICEACCOUNTS = _stored("", "ServiceAccount", "serviceaccounts", True, "sa")
SERVICES = _stored("", "Service", "services", True, "svc")
ENDPOINTS = _stored("", "Endpoints", "endpoints", True, "ep")
PERSISTENTVOLUMECLAIMS = _stored("", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc")
PERSISTENTVOLUMES = _stored("", "PersistentVolume", "persistentvolumes", False, "pv")
REPLICATIONCONTROLLERS = _stored("", "ReplicationController", "replicationcontrollers", True, "rc")
LIMITRANGES = _stored("", "LimitRange", "limitranges", True, "limits")
RESOURCEQUOTAS = _stored("", "ResourceQuota", "resourcequotas", True, "quota")
ROLES = _stored("rbac.authorization.k8s.io", "Role", "roles", True)
ROLEBINDINGS = _stored("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", True)
CLUSTERROLES = _stored("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", False)
CLUSTERROLEBINDINGS = _stored("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", False)
INGRESSES = _stored("networking.k8s.io", "Ingress", "ingresses", True, "ing")
NETWORKPOLICIES = _stored("networking.k8s.io", "NetworkPolicy", "networkpolicies", True, "netpol")
INGRESSCLASSES = _stored("networking.k8s.io", "IngressClass", "ingressclasses", False)
PODDISRUPTIONBUDGETS = _stored("policy", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb")
JOBS = _stored("batch", "Job", "jobs", True)
CRONJOBS = _stored("batch", "CronJob", "cronjobs", True, "cj")
DAEMONSETS = _stored("apps", "DaemonSet", "daemonsets", True, "ds")
STATEFULSETS = _stored("apps", "StatefulSet", "statefulsets", True, "sts")
CONTROLLERREVISIONS = _stored("apps", "ControllerRevision", "controllerrevisions", True)
STORAGECLASSES = _stored("storage.k8s.io", "StorageClass", "storageclasses", False, "sc")
CSIDRIVERS = _stored("storage.k8s.io", "CSIDriver", "csidrivers", False)
CSINODES = _stored("storage.k8s.io", "CSINode", "csinodes", False)
VOLUMEATTACHMENTS = _stored("storage.k8s.io", "VolumeAttachment", "volumeattachments", False)
CSISTORAGECAPACITIES = _stored("storage.k8s.io", "CSIStorageCapacity", "csistoragecapacities", True)
PODTEMPLATES = _stored("", "PodTemplate", "podtemplates", True)
PRIORITYCLASSES = _stored("scheduling.k8s.io", "PriorityClass", "priorityclasses", False, "pc")
ENDPOINTSLICES = _stored("discovery.k8s.io", "EndpointSlice", "endpointslices", True)
CUSTOMRESOURCEDEFINITIONS = _stored("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions",
                                    False, "crd", "crds")
VALIDATINGWEBHOOKCONFIGURATIONS = _stored("admissionregistration.k8s.io", "ValidatingWebhookConfiguration",
                                          "validatingwebhookconfigurations", False)
MUTATINGWEBHOOKCONFIGURATIONS = _stored("admissionregistration.k8s.io", "MutatingWebhookConfiguration",
                                        "mutatingwebhookconfigurations", False)
VALIDATINGADMISSIONPOLICIES = _stored("admissionregistration.k8s.io", "ValidatingAdmissionPolicy",
                                      "validatingadmissionpolicies", False)
VALIDATINGADMISSIONPOLICYBINDINGS = _stored("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding",
                                            "validatingadmissionpolicybindings", False)
CERTIFICATESIGNINGREQUESTS = _stored("certificates.k8s.io", "CertificateSigningRequest", "certificatesigningrequests",
                                     False, "csr")
APISERVICES = _stored("apiregistration.k8s.io", "APIService", "apiservices", False)
# stored as sent, acted on by the HPA controller; served in autoscaling/v1 too, as a view (kubelite.api.hpa)
HORIZONTALPODAUTOSCALERS = Resource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
                                    document_model("autoscaling/v2", "HorizontalPodAutoscaler"), ("hpa",))

# the same objects as EVENTS, in events.k8s.io/v1's shape (kubelite.api.events_v1); not in ALL_RESOURCES:
# readers of every kind (namespace deletion, garbage collection) see them as core events
EVENTS_V1 = Resource("events.k8s.io", "v1", "Event", "events", True, document_model(events_v1.API_VERSION, "Event"),
                     ("ev",), conversion=Conversion(events_v1.from_core, events_v1.to_core, Event))

STORED_ONLY: tuple[Resource, ...] = (
    CONFIGMAPS, SECRETS, SERVICEACCOUNTS, SERVICES, ENDPOINTS, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES,
    REPLICATIONCONTROLLERS,
    LIMITRANGES, RESOURCEQUOTAS, ROLES, ROLEBINDINGS, CLUSTERROLES, CLUSTERROLEBINDINGS, INGRESSES,
    NETWORKPOLICIES, INGRESSCLASSES, PODDISRUPTIONBUDGETS, JOBS, CRONJOBS, DAEMONSETS, STATEFULSETS,
    CONTROLLERREVISIONS, STORAGECLASSES, PRIORITYCLASSES, ENDPOINTSLICES, CUSTOMRESOURCEDEFINITIONS,
    VALIDATINGWEBHOOKCONFIGURATIONS, MUTATINGWEBHOOKCONFIGURATIONS, VALIDATINGADMISSIONPOLICIES,
    VALIDATINGADMISSIONPOLICYBINDINGS, CERTIFICATESIGNINGREQUESTS, APISERVICES,
    CSIDRIVERS, CSINODES, VOLUMEATTACHMENTS, CSISTORAGECAPACITIES, PODTEMPLATES,
)
ALL_RESOURCES: tuple[Resource, ...] = (
    NAMESPACES, NODES, PODS, EVENTS, REPLICASETS, DEPLOYMENTS, LEASES, *STORED_ONLY, HORIZONTALPODAUTOSCALERS)


def resource_for_kind(kind: str) -> Resource | None:
    for res in ALL_RESOURCES:
        if res.kind == kind:
            return res
    return None


def api_group(api_version: str | None) -> str:
    """``apps/v1`` → ``apps``; ``v1`` (the core group) → ``""``."""
    return (api_version or "").rpartition("/")[0]


def named_like_built_in(obj: KubeObject) -> bool:
    """A custom resource whose kind is also a built-in kind's (Knative's ``serving.knative.dev`` Service): its
    apiVersion's group is none of that kind's. None of the built-in kind's rules apply to it (kube-apiserver
    looks them up by group and kind). An object without an apiVersion is taken as the built-in one."""
    return bool(obj.api_version) and _named_like_built_in(obj.api_version or "", obj.kind or "")


@functools.lru_cache(maxsize=256)  # asked on every write; a cluster has few (apiVersion, kind) pairs
def _named_like_built_in(api_version: str, kind: str) -> bool:
    groups = {res.group for res in (*ALL_RESOURCES, EVENTS_V1) if res.kind == kind}
    return bool(groups) and api_group(api_version) not in groups


def resource_for_api_version(api_version: str, kind: str) -> Resource | None:
    """The resource of ``kind`` in ``api_version``, also those served in a second shape (EVENTS_V1)."""
    for res in (*ALL_RESOURCES, EVENTS_V1):
        if res.kind == kind and res.api_version == api_version:
            return res
    return None


def resource_for_name(name: str) -> Resource | None:
    """Plural, singular, kind or short name, as kubectl accepts them (``deploy``, ``pods``, ``Pod``)."""
    wanted = name.lower()
    for res in ALL_RESOURCES:
        if wanted in (res.plural, res.singular, *res.short_names) or wanted == f"{res.plural}.{res.group}":
            return res
    return None


def resource_for_model(model: type[KubeObject]) -> Resource:
    for res in ALL_RESOURCES:
        if res.model is model:
            return res
    raise KeyError(f"no resource is registered for {model.__name__}")
