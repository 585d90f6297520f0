"""The kinds kubelite serves, and where each lives in etcd.

Key layout (docs/etcd-keys.md): ``/registry/<plural>/[<namespace>/]<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.api.apps import Deployment, ReplicaSet
from kubelite.api.coordination import Lease
from kubelite.api.core import Event, Namespace, Node, Pod
from kubelite.api.meta import KubeObject

REGISTRY_ROOT = "/registry"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    model: type[KubeObject] = field(repr=False)
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def prefix(self, namespace: str | None = None) -> str:
        """Key prefix of all objects, or of one namespace's objects (ends with '/')."""
        if self.namespaced and namespace:
            return f"{REGISTRY_ROOT}/{self.plural}/{namespace}/"
        return f"{REGISTRY_ROOT}/{self.plural}/"

    def key(self, name: str, namespace: str | None = None) -> str:
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} {name!r} is namespaced: a namespace is required")
            return f"{REGISTRY_ROOT}/{self.plural}/{namespace}/{name}"
        return f"{REGISTRY_ROOT}/{self.plural}/{name}"

    def key_of(self, obj: KubeObject) -> str:
        return self.key(obj.metadata.name or "", obj.metadata.namespace)


NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False, Namespace, ("ns",))
NODES = Resource("", "v1", "Node", "nodes", False, Node, ("no",))
PODS = Resource("", "v1", "Pod", "pods", True, Pod, ("po",))
EVENTS = Resource("", "v1", "Event", "events", True, Event, ("ev",))
REPLICASETS = Resource("apps", "v1", "ReplicaSet", "replicasets", True, ReplicaSet, ("rs",))
DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True, Deployment, ("deploy",))
LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases", True, Lease)

ALL_RESOURCES: tuple[Resource, ...] = (NAMESPACES, NODES, PODS, EVENTS, REPLICASETS, DEPLOYMENTS, LEASES)


def resource_for_kind(kind: str) -> Resource | None:
    for res in ALL_RESOURCES:
        if res.kind == kind:
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
