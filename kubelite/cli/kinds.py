"""Kind names as users type them (``po``, ``deploy``, ``deployments.apps``, ``Pod``) →
the resource they name, and the REST paths of that resource.

The built-in table comes from :mod:`kubelite.api.resources`; kinds the gateway
serves that the table does not know are found through discovery
(``/api/v1``, ``/apis``), so new kinds need no CLI change.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubelite.api.resources import ALL_RESOURCES
from kubelite.api.validation import name_check_for, path_segment_name_errors
from kubelite.cli.errors import CliError

_BUILTIN_PLURALS = frozenset((r.group, r.plural) for r in ALL_RESOURCES)


def segment(value: str) -> str:
    """One path segment, percent-encoded: a name never changes the request's path or query."""
    return urllib.parse.quote(value, safe="")


def check_name(res: ResourceInfo, name: str) -> None:
    """Raise CliError (one line) unless ``name`` can be the name of a ``res`` object.

    Kinds kubelite knows use their Kubernetes name rule (RFC 1123 label or
    subdomain); discovered kinds the path-segment rule every kind shares.
    """
    if not name:
        raise CliError(f"a {res.type_name} name must not be empty")
    known = (res.group, res.plural) in _BUILTIN_PLURALS
    problems = (name_check_for(res.plural) if known else path_segment_name_errors)(name)
    if problems:
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise CliError(f"invalid {res.type_name} name {shown!r}: {problems[0]}")


def check_namespace(namespace: str) -> None:
    problems = name_check_for("namespaces")(namespace)
    if problems:
        raise CliError(f"invalid namespace {namespace!r}: {problems[0]}")


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
        """The collection's path; a bad namespace raises CliError, every segment is escaped."""
        root = f"/apis/{segment(self.group)}/{segment(self.version)}" if self.group else f"/api/{segment(self.version)}"
        if self.namespaced and namespace:
            check_namespace(namespace)
            return f"{root}/namespaces/{segment(namespace)}/{segment(self.plural)}"
        return f"{root}/{segment(self.plural)}"

    def object_path(self, name: str, namespace: str | None, subresource: str | None = None) -> str:
        """One object's path; a name the kind cannot have raises CliError (never a request that
        could address the collection, as ``?x=1`` or an empty name would)."""
        check_name(self, name)
        path = f"{self.collection_path(namespace if self.namespaced else None)}/{segment(name)}"
        return f"{path}/{segment(subresource)}" if subresource else path


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
