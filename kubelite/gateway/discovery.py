"""Discovery documents: /version, /api, /apis, /api/v1, /apis/<g>/<v>, and aggregated (v2).

kubectl builds its REST mapping from these (kinds, short names, verbs,
``deployments/scale`` → autoscaling/v1 Scale for ``kubectl scale``). Pure
builders from :mod:`kubelite.gateway.catalog`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubelite.gateway.catalog import Served, group_versions, served_in
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


def _group_entry(group: str, version: str) -> dict[str, Any]:
    gv = {"groupVersion": f"{group}/{version}", "version": version}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def api_group_list() -> dict[str, Any]:
    groups = [_group_entry(g, v) for g, v in group_versions() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    for g, v in group_versions():
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(g, v)}
    return None


def _storage_hash(served: Served) -> str:
    return hashlib.sha256(served.resource.kind.encode()).hexdigest()[:12]


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    served = served_in(group, version)
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


def aggregated_discovery(*, core: bool, api_version: str = "apidiscovery.k8s.io/v2") -> dict[str, Any]:
    """The APIGroupDiscoveryList for /api (core) or /apis (named groups)."""
    items = []
    for group, version in group_versions():
        if bool(group) == core:
            continue
        resources = [_aggregated_resource(s) for s in served_in(group, version)]
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": version, "resources": resources, "freshness": "Current"}],
        })
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
