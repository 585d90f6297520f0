"""Discovery documents: /version, /api, /apis, /api/v1, /apis/<g>/<v>, and aggregated (v2).

kubectl builds its REST mapping from these (kinds, short names, verbs,
``deployments/scale`` → autoscaling/v1 Scale for ``kubectl scale``). Pure
builders from :mod:`kubelite.gateway.catalog`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from kubelite.gateway import metrics_group, review_group
from kubelite.gateway.catalog import VIEWS, Served, View, group_versions, served_in
from kubelite.version import KUBERNETES_VERSION, build_commit

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def version_info() -> dict[str, Any]:
    """kube-apiserver's version.Info: the Kubernetes version served; gitCommit/gitTreeState are kubelite's own."""
    major, minor, git_version = KUBERNETES_VERSION
    commit = build_commit()
    return {
        "major": major, "minor": minor, "gitVersion": f"{git_version}+kubelite", "gitCommit": commit.sha,
        "gitTreeState": commit.tree_state, "buildDate": "2026-01-01T00:00:00Z", "goVersion": "python",
        "compiler": "cpython", "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key, highest first: GA before beta before alpha, then by number (kube's CRD version
    priority, ``version.CompareKubeAwareVersionStrings``); other names last, alphabetically."""
    found = _VERSION.match(version)
    if found is None:
        return (0, 0, 0, version)
    stage = {"alpha": 1, "beta": 2}.get(found.group(2) or "", 3)
    return (-stage, -int(found.group(1)), -int(found.group(3) or 0), "")


def _custom_group_versions(custom: Sequence[Served]) -> list[tuple[str, str]]:
    gvs = {(s.resource.group, s.resource.version) for s in custom}
    return sorted(gvs, key=lambda gv: (gv[0], version_priority(gv[1])))


def _served_in(group: str, version: str, custom: Sequence[Served]) -> list[Served]:
    """The built-in kinds of a group version, then the custom resources served in it."""
    return [*served_in(group, version),
            *(s for s in custom if (s.resource.group, s.resource.version) == (group, version))]


def _all_group_versions(custom: Sequence[Served] = ()) -> list[tuple[str, str]]:
    """The stored kinds' group versions, the views' (a second version of a stored kind), the
    metrics API's (served from the agents), then the custom resources' (preferred version first)."""
    return [*group_versions(), *((v.group, v.version) for v in VIEWS), (metrics_group.GROUP, metrics_group.VERSION),
            *((g, review_group.VERSION) for g in review_group.GROUPS), *_custom_group_versions(custom)]


def _versions_by_group(custom: Sequence[Served] = ()) -> dict[str, list[str]]:
    """Named groups → their versions, the stored (preferred) one first."""
    groups: dict[str, list[str]] = {}
    for g, v in _all_group_versions(custom):
        if g and v not in groups.setdefault(g, []):
            groups[g].append(v)
    return groups


def api_group_list(custom: Sequence[Served] = ()) -> dict[str, Any]:
    groups = [_group_entry(g, versions) for g, versions in _versions_by_group(custom).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, custom: Sequence[Served] = ()) -> dict[str, Any] | None:
    versions = _versions_by_group(custom).get(group)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)} if versions else None


def _view(group: str, version: str) -> View | None:
    return next((v for v in VIEWS if (v.group, v.version) == (group, version)), None)


def _view_resources(view: View) -> list[dict[str, Any]]:
    res = view.stored.resource
    entry: dict[str, Any] = {"name": res.plural, "singularName": res.singular, "namespaced": res.namespaced,
                             "kind": res.kind, "verbs": list(view.verbs), "storageVersionHash": _storage_hash(view.stored)}
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if view.stored.categories:
        entry["categories"] = list(view.stored.categories)
    return [entry, *({"name": f"{res.plural}/{sub.name}", "singularName": "", "namespaced": res.namespaced,
                      "kind": res.kind, "verbs": list(sub.verbs)} for sub in view.subresources)]


def _view_aggregated(view: View) -> dict[str, Any]:
    res = view.stored.resource
    kind = {"group": view.group, "version": view.version, "kind": res.kind}
    entry: dict[str, Any] = {"resource": res.plural, "singularResource": res.singular, "responseKind": kind,
                             "scope": "Namespaced" if res.namespaced else "Cluster", "verbs": list(view.verbs)}
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if view.stored.categories:
        entry["categories"] = list(view.stored.categories)
    if view.subresources:
        entry["subresources"] = [{"subresource": s.name, "verbs": list(s.verbs), "responseKind": kind}
                                 for s in view.subresources]
    return {"version": view.version, "resources": [entry], "freshness": "Current"}


def _storage_hash(served: Served) -> str:
    return hashlib.sha256(served.resource.kind.encode()).hexdigest()[:12]


def _metrics_resources() -> list[dict[str, Any]]:
    return [{"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind,
             "verbs": list(metrics_group.VERBS)} for plural, kind, namespaced in metrics_group.RESOURCES]


def _metrics_aggregated() -> dict[str, Any]:
    resources = [{"resource": plural, "singularResource": "",
                  "responseKind": {"group": metrics_group.GROUP, "version": metrics_group.VERSION, "kind": kind},
                  "scope": "Namespaced" if namespaced else "Cluster", "verbs": list(metrics_group.VERBS)}
                 for plural, kind, namespaced in metrics_group.RESOURCES]
    return {"metadata": {"name": metrics_group.GROUP, "creationTimestamp": None},
            "versions": [{"version": metrics_group.VERSION, "resources": resources, "freshness": "Current"}]}


def _review_resources(group: str) -> list[dict[str, Any]]:
    return [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
             "verbs": list(review_group.VERBS)} for plural, kind, namespaced in review_group.resources_of(group)]


def _review_aggregated(group: str) -> dict[str, Any]:
    resources = [{"resource": plural, "singularResource": kind.lower(),
                  "responseKind": {"group": group, "version": review_group.VERSION, "kind": kind},
                  "scope": "Namespaced" if namespaced else "Cluster", "verbs": list(review_group.VERBS)}
                 for plural, kind, namespaced in review_group.resources_of(group)]
    return {"metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": review_group.VERSION, "resources": resources, "freshness": "Current"}]}


def api_resource_list(group: str, version: str, custom: Sequence[Served] = ()) -> dict[str, Any] | None:
    if group in review_group.GROUPS and version == review_group.VERSION:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                "resources": _review_resources(group)}
    view = _view(group, version)
    if view is not None:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                "resources": _view_resources(view)}
    if (group, version) == (metrics_group.GROUP, metrics_group.VERSION):
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": metrics_group.API_VERSION,
                "resources": _metrics_resources()}
    served = _served_in(group, version, custom)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for s in served:
        res = s.resource
        entry: dict[str, Any] = {
            "name": res.plural, "singularName": res.singular, "namespaced": res.namespaced,
            "kind": res.kind, "verbs": list(s.verbs), "storageVersionHash": _storage_hash(s),
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if s.categories:
            entry["categories"] = list(s.categories)
        resources.append(entry)
        for sub in s.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{res.plural}/{sub.name}", "singularName": "", "namespaced": res.namespaced,
                "kind": sub.kind or res.kind, "verbs": list(sub.verbs),
            }
            if sub.group is not None:
                sub_entry["group"], sub_entry["version"] = sub.group, sub.version
            resources.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _aggregated_resource(s: Served) -> dict[str, Any]:
    res = s.resource
    entry: dict[str, Any] = {
        "resource": res.plural, "singularResource": res.singular,
        "responseKind": {"group": res.group, "version": res.version, "kind": res.kind},
        "scope": "Namespaced" if res.namespaced else "Cluster", "verbs": list(s.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if s.categories:
        entry["categories"] = list(s.categories)
    if s.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name, "verbs": list(sub.verbs),
                "responseKind": {
                    "group": res.group if sub.group is None else sub.group,
                    "version": sub.version or res.version, "kind": sub.kind or res.kind,
                },
            }
            for sub in s.subresources
        ]
    return entry


def aggregated_discovery(*, core: bool, api_version: str = "apidiscovery.k8s.io/v2",
                         custom: Sequence[Served] = ()) -> dict[str, Any]:
    """The APIGroupDiscoveryList for /api (core) or /apis (named groups, then the custom resources')."""
    items = []
    for group, version in group_versions():
        if bool(group) == core:
            continue
        resources = [_aggregated_resource(s) for s in _served_in(group, version, custom)]
        views = [_view_aggregated(v) for v in VIEWS if v.group == group]
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": version, "resources": resources, "freshness": "Current"}, *views],
        })
    if not core:
        items += [_review_aggregated(g) for g in review_group.GROUPS]
        items.append(_metrics_aggregated())
        builtin = {g for g, _v in group_versions()}
        custom_groups: dict[str, list[dict[str, Any]]] = {}
        for group, version in _custom_group_versions(custom):
            if group in builtin:  # a CRD in a built-in group: listed with that group above
                continue
            resources = [_aggregated_resource(s) for s in _served_in(group, version, custom)]
            custom_groups.setdefault(group, []).append({"version": version, "resources": resources,
                                                        "freshness": "Current"})
        items += [{"metadata": {"name": g, "creationTimestamp": None}, "versions": vs}
                  for g, vs in custom_groups.items()]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}


def wants_aggregated(accept: str) -> str | None:
    """The aggregated content type the client accepts first, if any (kubectl sends both)."""
    for part in accept.split(","):
        media = part.replace(" ", "")
        if "as=APIGroupDiscoveryList" in media and "g=apidiscovery.k8s.io" in media:
            if "v=v2beta1" in media:
                return AGGREGATED_V2BETA1
            if "v=v2" in media:
                return AGGREGATED_V2
    return None


def etag(document: dict[str, Any]) -> str:
    return '"' + hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32] + '"'
