"""Which ConfigMaps and Secrets a pod uses (pure): so a change of one re-syncs only its pods, and a node
that reads Secrets through the gateway knows which to fetch. One home with the Node authorizer's rule
(:func:`kubelite.auth.nodegraph.references`): what the gateway lets a node read is what it fetches."""

from __future__ import annotations

from kubelite.api.core import Pod
from kubelite.auth.nodegraph import references

Ref = tuple[str, str]  # ("configmap" | "secret", name)


def pod_refs(pod: Pod) -> set[Ref]:
    used = references(pod.to_dict())
    return {("configmap", n) for n in used["configmaps"]} | {("secret", n) for n in used["secrets"]}
