"""Kind names as users type them (``po``, ``deploy``, ``deployments.apps``, ``Pod``) →
the resource they name, and the REST paths of that resource.

The built-in table comes from :mod:`kubelite.api.resources`; kinds the gateway
serves that the table does not know are found through discovery
(``/api/v1``, ``/apis``), so new kinds need no CLI change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubelite.api.resources import ALL_RESOURCES


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_plural(self) -> str:
        """``deployments.apps`` / ``pods``, as in Kubernetes' messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def type_name(self) -> str:
        """``deployment.apps`` / ``pod``, as in ``deployment.apps/web created``."""
        kind = self.kind.lower()
        return f"{kind}.{self.group}" if self.group else kind

    def names(self) -> set[str]:
        singular = self.singular or self.kind.lower()
        base = {self.plural, singular, self.kind.lower(), *self.short_names}
        if self.group:
            base |= {f"{n}.{self.group}" for n in (self.plural, singular)}
        return base

    def collection_path(self, namespace: str | None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def object_path(self, name: str, namespace: str | None, subresource: str | None = None) -> str:
        path = f"{self.collection_path(namespace if self.namespaced else None)}/{name}"
        return f"{path}/{subresource}" if subresource else path


BUILTIN: tuple[ResourceInfo, ...] = tuple(
    ResourceInfo(r.group, r.version, r.kind, r.plural, r.namespaced, r.short_names, r.singular)
    for r in ALL_RESOURCES
)


def resolve(name: str, resources: Iterable[ResourceInfo] = BUILTIN) -> ResourceInfo | None:
    """The resource ``name`` names (case-insensitive), or None."""
    wanted = name.strip().lower()
    for res in resources:
        if wanted in res.names():
            return res
    return None


def resolve_kind(api_version: str, kind: str, resources: Iterable[ResourceInfo] = BUILTIN) -> ResourceInfo | None:
    """The resource of a manifest's ``apiVersion`` + ``kind``."""
    group, _, version = api_version.rpartition("/")
    for res in resources:
        if res.kind == kind and res.group == group and res.version == version:
            return res
    return None


def parse_discovery(group_version: str, doc: dict[str, Any]) -> list[ResourceInfo]:
    """ResourceInfos from an ``APIResourceList`` (subresources such as ``pods/log`` skipped)."""
    group, _, version = group_version.rpartition("/")
    found = []
    for item in doc.get("resources") or []:
        name = item.get("name", "")
        if not name or "/" in name:
            continue
        found.append(ResourceInfo(
            group=item.get("group") or group, version=item.get("version") or version,
            kind=item.get("kind", ""), plural=name, namespaced=bool(item.get("namespaced")),
            short_names=tuple(item.get("shortNames") or ()), singular=item.get("singularName") or "",
        ))
    return found


def group_versions(apis_doc: dict[str, Any]) -> list[str]:
    """Preferred ``group/version`` of each group in an ``APIGroupList``."""
    result = []
    for group in apis_doc.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        versions = group.get("versions") or []
        if preferred:
            result.append(preferred)
        elif versions:
            result.append(versions[0].get("groupVersion"))
    return [gv for gv in result if gv]
