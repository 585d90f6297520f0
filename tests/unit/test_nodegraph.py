"""The Node authorizer's rule (kubelite.auth.nodegraph): what a pod uses, and who is a node."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubelite.auth import nodegraph

NAMES = st.sampled_from(["a", "b", "c", "d"])


def pod(spec: dict[str, Any], name: str = "p", node: str = "n1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"nodeName": node, **spec}}


def test_every_place_a_pod_names_a_secret_configmap_or_claim_counts() -> None:
    used = nodegraph.references(pod({
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [
            {"name": "v1", "secret": {"secretName": "vol-secret"}},
            {"name": "v2", "configMap": {"name": "vol-cm"}},
            {"name": "v3", "projected": {"sources": [{"secret": {"name": "proj-secret"}},
                                                      {"configMap": {"name": "proj-cm"}},
                                                      {"serviceAccountToken": {"path": "t"}}]}},
            {"name": "v4", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "v6", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi-secret"}}},
            {"name": "v7", "rbd": {"secretRef": {"name": "rbd-secret"}}},
            {"name": "v8", "azureFile": {"secretName": "azure-secret", "shareName": "s"}},
        ],
        "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init-cm"}}]}],
        "containers": [{"name": "c", "env": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
            {"name": "C", "value": "plain"}],
            "envFrom": [{"secretRef": {"name": "envfrom-secret"}}]}],
        "ephemeralContainers": [{"name": "e", "envFrom": [{"secretRef": {"name": "debug-secret"}}]}],
    }))
    assert used == {
        "secrets": {"pull", "vol-secret", "proj-secret", "csi-secret", "rbd-secret", "azure-secret", "env-secret",
                    "envfrom-secret", "debug-secret"},
        "configmaps": {"vol-cm", "proj-cm", "init-cm", "env-cm"},
        "persistentvolumeclaims": {"data", "p-scratch"},
    }


@given(st.lists(st.tuples(NAMES, st.sampled_from(["n1", "n2", ""]))), NAMES)
def test_only_pods_bound_to_the_node_grant_their_secrets(placed: list[tuple[str, str]], wanted: str) -> None:
    pods = [pod({"volumes": [{"name": "v", "secret": {"secretName": secret}}]}, name=f"p{i}", node=node)
            for i, (secret, node) in enumerate(placed)]
    expected = any(secret == wanted and node == "n1" for secret, node in placed)
    assert nodegraph.pods_reference(pods, "n1", "secrets", wanted) is expected


def test_a_node_is_a_system_node_user_in_the_nodes_group() -> None:
    assert nodegraph.node_name("system:node:n1", ("system:nodes", "system:authenticated")) == "n1"
    assert nodegraph.node_name("system:node:n1", ("system:authenticated",)) is None  # the name alone is not enough
    assert nodegraph.node_name("alice", ("system:nodes",)) is None
    assert nodegraph.node_name("system:node:", ("system:nodes",)) is None
