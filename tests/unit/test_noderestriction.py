"""NodeRestriction's decisions (kubelite.gateway.noderestriction.decide), table-tested without I/O,
and the gateway's flags that switch it (on by default, as kubeadm and kl up run kube-apiserver)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.gateway.__main__ import config_from_args, parse_args
from kubelite.gateway.auth import User
from kubelite.gateway.noderestriction import Attributes, decide, node_name

NODE_UID = "uid-n1"


def pod(node: str = "n1", **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", **metadata},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}}


def mirror(**spec: Any) -> dict[str, Any]:
    doc = pod(annotations={"kubernetes.io/config.mirror": "x"}, ownerReferences=[
        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": NODE_UID, "controller": True}])
    doc["spec"].update(spec)
    return doc


def pods(operation: str, *, sub: str = "", obj: Any = None, old: Any = None) -> Attributes:
    return Attributes(operation, "pods", "", sub, "default", "p", obj, old, NODE_UID)  # type: ignore[arg-type]


def nodes(operation: str, name: str = "n1", *, obj: Any = None, old: Any = None) -> Attributes:
    return Attributes(operation, "nodes", name=name, obj=obj, old=old)  # type: ignore[arg-type]


def test_node_identity() -> None:
    assert node_name(User("system:node:n1", groups=("system:nodes",))) == "n1"
    assert node_name(User("system:node:n1", groups=("system:authenticated",))) is None  # not in system:nodes
    assert node_name(User("alice", groups=("system:nodes",))) is None
    assert decide("", pods("DELETE", old=pod())) == "could not determine node from user"


@pytest.mark.parametrize(("attrs", "reason"), [
    (pods("UPDATE", sub="status", obj=pod(), old=pod()), None),
    (pods("UPDATE", sub="status", obj=pod("n2"), old=pod("n2")),
     'node "n1" can only update pod status for pods with spec.nodeName set to itself'),
    (pods("UPDATE", sub="status", obj=pod(), old=pod("")),  # not yet scheduled: not its pod
     'node "n1" can only update pod status for pods with spec.nodeName set to itself'),
    (pods("UPDATE", sub="status", obj=pod(labels={"a": "b"}), old=pod()),
     'node "n1" cannot update labels through pod status'),
    (pods("UPDATE", obj=pod(), old=pod()),
     'unexpected operation "UPDATE", node "n1" can only create and delete mirror pods'),
    (pods("DELETE", old=pod()), None),
    (pods("DELETE", old=pod("n2")), 'node "n1" can only delete pods with spec.nodeName set to itself'),
    (pods("DELETE", old=None), 'node "n1" can only delete pods with spec.nodeName set to itself'),  # a collection
    (pods("CREATE", sub="eviction", old=pod()), None),
    (pods("CREATE", sub="eviction", old=pod("n2")), "node n1 can only evict pods with spec.nodeName set to itself"),
    (pods("CREATE", sub="binding", obj={}), "unexpected pod subresource \"binding\", only 'status' and 'eviction' "
     "are allowed"),
    (pods("CREATE", obj=pod()),
     'pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods'),
    (pods("CREATE", obj=mirror()), None),
    (pods("CREATE", obj={**mirror(), "spec": {**mirror()["spec"], "nodeName": "n2"}}),
     'node "n1" can only create pods with spec.nodeName set to itself'),
    (pods("CREATE", obj=mirror(serviceAccountName="sa")), 'node "n1" can not create pods that reference a service account'),
    (pods("CREATE", obj=mirror(imagePullSecrets=[{"name": "s"}])), 'node "n1" can not create pods that reference secrets'),
    (pods("CREATE", obj=mirror(volumes=[{"name": "v", "configMap": {"name": "c"}}])),
     'node "n1" can not create pods that reference configmaps'),
    (pods("CREATE", obj=mirror(volumes=[{"name": "v", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "s"}}}])),
     'node "n1" can not create pods that reference secrets'),
    (pods("CREATE", obj=mirror(volumes=[{"name": "v", "projected": {"sources": [{"clusterTrustBundle": {"name": "b"}}]}}])),
     'node "n1" can not create pods that reference clustertrustbundles'),
    (pods("CREATE", obj=mirror(volumes=[{"name": "v", "persistentVolumeClaim": {"claimName": "c"}}])),
     'node "n1" can not create pods that reference persistentvolumeclaims'),
    (pods("CREATE", obj=mirror(containers=[{"name": "c", "image": "i", "env": [
        {"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}])),
     'node "n1" can not create pods that reference secrets'),
    (nodes("UPDATE", obj={"metadata": {"labels": {"kubernetes.io/hostname": "n1", "custom/x": "y"}}}, old={}), None),
    (nodes("UPDATE", "n2", obj={}, old={}), 'node "n1" is not allowed to modify node "n2"'),
    (nodes("DELETE", "n2"), 'node "n1" is not allowed to modify node "n2"'),
    (nodes("UPDATE", obj={"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}, old={}),
     'node "n1" is not allowed to modify taints'),
    (nodes("UPDATE", obj={}, old={"metadata": {"labels": {"foo.node-restriction.kubernetes.io/x": "y"}}}),
     "is not allowed to modify labels: foo.node-restriction.kubernetes.io/x"),
    (nodes("CREATE", obj={"metadata": {"labels": {"k8s.io/x": "y", "node.kubernetes.io/exclude": "y"}}}),
     'node "n1" is not allowed to set the following labels: k8s.io/x'),
    (Attributes("UPDATE", "leases", "coordination.k8s.io", namespace="kube-node-lease", name="n1"), None),
    (Attributes("DELETE", "leases", "coordination.k8s.io", namespace="kube-node-lease", name="n2"),
     "can only access node lease with the same name as the requesting node"),
    (Attributes("CREATE", "leases", "coordination.k8s.io", namespace="default", name="n1"),
     'can only access leases in the "kube-node-lease" system namespace'),
    (Attributes("UPDATE", "csinodes", "storage.k8s.io", name="n2"),
     "can only access CSINode with the same name as the requesting node"),
    (Attributes("UPDATE", "persistentvolumeclaims", subresource="status", obj={"status": {"capacity": {"x": "1"}}},
                old={}), None),
    (Attributes("UPDATE", "persistentvolumeclaims", subresource="status", obj={"status": {"phase": "Lost"}}, old={}),
     'node "n1" is not allowed to update fields other than status.capacity and status.conditions'),
    (Attributes("UPDATE", "persistentvolumeclaims", obj={}, old={}), "may only update PVC status"),
    (Attributes("UPDATE", "configmaps", obj={}, old={}), None),  # not a kind NodeRestriction restricts
])
def test_decide(attrs: Attributes, reason: str | None) -> None:
    assert decide("n1", attrs) == reason


@given(st.sampled_from(["pods", "nodes", "leases"]), st.text(min_size=1, max_size=8))
def test_another_nodes_objects_are_never_writable(resource: str, other: str) -> None:
    """Whatever the operation, an object bound to or named after another node is refused."""
    if other == "n1":
        return
    group = "coordination.k8s.io" if resource == "leases" else ""
    for operation in ("CREATE", "UPDATE", "DELETE"):
        if resource == "pods":
            for sub in ("", "status"):
                attrs = Attributes(operation, "pods", subresource=sub, name="p", obj=mirror() | {
                    "spec": {"nodeName": other}}, old=pod(other), node_uid=NODE_UID)
                assert decide("n1", attrs) is not None
        else:
            attrs = Attributes(operation, resource, group, namespace="kube-node-lease", name=other,
                               obj={}, old={})
            assert decide("n1", attrs) is not None


def test_flags() -> None:
    base = ["--etcd-endpoints", "127.0.0.1:2379"]
    assert config_from_args(parse_args(base)).node_restriction
    assert config_from_args(parse_args([*base, "--enable-admission-plugins", "ServiceAccount,NodeRestriction"])
                            ).node_restriction
    assert not config_from_args(parse_args([*base, "--disable-admission-plugins", "NodeRestriction"])).node_restriction
    with pytest.raises(ValueError, match="in both"):
        config_from_args(parse_args([*base, "--enable-admission-plugins", "NodeRestriction",
                                     "--disable-admission-plugins", "NodeRestriction"]))
    with pytest.raises(SystemExit):
        parse_args([*base, "--enable-admission-plugins", "Nope"])


# -- persistentvolumes: kubelite's one deviation (the local-path finalizer drop) ---------------

FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"


def volume(node: str = "n1", *, finalizers: list[str] | None = None, deleting: bool = True,
           provisioner: str = "kubelite.io/local-path", **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "pvc-1", "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
                                "finalizers": [FINALIZER] if finalizers is None else finalizers,
                                "resourceVersion": "7"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "spec": {
        "capacity": {"storage": "1Gi"}, "hostPath": {"path": f"/var/lib/kubelite/local-path/{node}/pvc-1"},
        "persistentVolumeReclaimPolicy": "Delete",
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}, **spec},
        "status": {"phase": "Released"}}


def volumes(operation: str, *, obj: Any = None, old: Any = None, sub: str = "") -> Attributes:
    return Attributes(operation, "persistentvolumes", "", sub, "", "pvc-1", obj, old)  # type: ignore[arg-type]


def dropped(doc: dict[str, Any]) -> dict[str, Any]:
    meta = {**doc["metadata"], "finalizers": [f for f in doc["metadata"]["finalizers"] if f != FINALIZER] or None,
            "resourceVersion": "7", "managedFields": [{"manager": "agent"}]}
    return {**doc, "metadata": meta}


ONLY_FINALIZER = f'node "n1" may only remove the "{FINALIZER}" finalizer of a volume'


@pytest.mark.parametrize(("attrs", "reason"), [
    (volumes("UPDATE", obj=dropped(volume()), old=volume()), None),
    (volumes("UPDATE", obj=dropped(volume(finalizers=["kubernetes.io/pv-protection", FINALIZER])),
             old=volume(finalizers=["kubernetes.io/pv-protection", FINALIZER])), None),  # others stay
    (volumes("UPDATE", obj=dropped(volume("n2")), old=volume("n2")),
     'node "n1" may only update local-path volumes on itself'),
    (volumes("UPDATE", obj=dropped(volume(provisioner="rancher.io/local-path")),
             old=volume(provisioner="rancher.io/local-path")), 'node "n1" may only update local-path volumes on itself'),
    (volumes("UPDATE", obj=dropped(volume(deleting=False)), old=volume(deleting=False)),
     'node "n1" may only update local-path volumes that are being deleted'),
    (volumes("UPDATE", obj=volume(finalizers=[]), old=volume(finalizers=["kubernetes.io/pv-protection", FINALIZER])),
     ONLY_FINALIZER),  # another finalizer removed with it
    (volumes("UPDATE", obj=dropped(volume(persistentVolumeReclaimPolicy="Retain")), old=volume()), ONLY_FINALIZER),
    (volumes("UPDATE", obj={**dropped(volume()), "metadata": {**dropped(volume())["metadata"], "labels": {"a": "b"}}},
             old=volume()), ONLY_FINALIZER),
    (volumes("UPDATE", obj=volume(), old=volume()), ONLY_FINALIZER),  # nothing dropped: no reason to write
    (volumes("UPDATE", sub="status", obj=dropped(volume()), old=volume()),
     'node "n1" may only remove the local-path provisioner finalizer of its own volumes'),
    (volumes("CREATE", obj=volume(deleting=False)),
     'node "n1" may only remove the local-path provisioner finalizer of its own volumes'),
    (volumes("DELETE"), 'node "n1" may only remove the local-path provisioner finalizer of its own volumes'),
])
def test_a_node_may_only_drop_the_local_path_finalizer_of_its_own_deleted_volume(
        attrs: Attributes, reason: str | None) -> None:
    assert decide("n1", attrs) == reason


def test_the_volume_status_sent_along_does_not_count() -> None:
    """A main-resource update keeps the stored status, so a stale one in the request changes nothing."""
    sent = {**dropped(volume()), "status": {"phase": "Bound"}}
    assert decide("n1", volumes("UPDATE", obj=sent, old=volume())) is None


def test_the_labels_a_node_may_set_on_itself() -> None:
    """kubelite.node.labels: one rule for NodeRestriction and an agent's --labels check at start."""
    from kubelite.node.labels import forbidden_node_labels

    assert forbidden_node_labels(["zone", "example.com/disk", "kubernetes.io/hostname", "node.kubernetes.io/pool",
                                  "topology.kubernetes.io/zone", "kubelet.kubernetes.io/x"]) == []
    assert forbidden_node_labels(["node-role.kubernetes.io/worker", "node-restriction.kubernetes.io/trusted",
                                  "k8s.io/x", "zone"]) == [
        "k8s.io/x", "node-restriction.kubernetes.io/trusted", "node-role.kubernetes.io/worker"]
