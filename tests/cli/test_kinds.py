"""Kind names → resources, and their REST paths (no I/O)."""

import pytest

from kubelite.cli import kinds
from kubelite.cli.errors import CliError


@pytest.mark.parametrize(
    ("typed", "plural"),
    [("po", "pods"), ("pod", "pods"), ("Pods", "pods"), ("rs", "replicasets"), ("deploy", "deployments"),
     ("deployments.apps", "deployments"), ("Deployment", "deployments"), ("no", "nodes"),
     ("ns", "namespaces"), ("ev", "events"), ("leases", "leases"), ("lease.coordination.k8s.io", "leases")],
)
def test_builtin_short_and_long_names(typed: str, plural: str) -> None:
    res = kinds.resolve(typed)
    assert res is not None and res.plural == plural


def test_unknown_name_is_none() -> None:
    assert kinds.resolve("frobnicators") is None


def test_paths_follow_kubernetes_conventions() -> None:
    deploy, pods, nodes = kinds.resolve("deploy"), kinds.resolve("po"), kinds.resolve("no")
    assert deploy and pods and nodes
    assert deploy.object_path("web", "default", "scale") == "/apis/apps/v1/namespaces/default/deployments/web/scale"
    assert pods.collection_path(None) == "/api/v1/pods"
    assert pods.object_path("p", "ns1", "log") == "/api/v1/namespaces/ns1/pods/p/log"
    assert nodes.object_path("node-1", "default") == "/api/v1/nodes/node-1"
    assert deploy.type_name == "deployment.apps" and pods.type_name == "pod"
    assert deploy.qualified_plural == "deployments.apps"


def test_resolve_kind_of_a_manifest() -> None:
    assert kinds.resolve_kind("apps/v1", "Deployment").plural == "deployments"  # type: ignore[union-attr]
    assert kinds.resolve_kind("v1", "Pod").plural == "pods"  # type: ignore[union-attr]
    assert kinds.resolve_kind("apps/v2", "Deployment") is None


def test_discovery_documents() -> None:
    doc = {"kind": "APIResourceList", "groupVersion": "batch/v1", "resources": [
        {"name": "jobs", "singularName": "job", "namespaced": True, "kind": "Job", "shortNames": ["jb"]},
        {"name": "jobs/status", "namespaced": True, "kind": "Job"},
    ]}
    found = kinds.parse_discovery("batch/v1", doc)
    assert [r.plural for r in found] == ["jobs"]
    assert kinds.resolve("jb", found) == found[0]
    assert kinds.resolve("jobs.batch", found) == found[0]
    assert found[0].collection_path("x") == "/apis/batch/v1/namespaces/x/jobs"
    groups = {"groups": [{"name": "apps", "preferredVersion": {"groupVersion": "apps/v1"}},
                         {"name": "odd", "versions": [{"groupVersion": "odd/v2"}]}]}
    assert kinds.group_versions(groups) == ["apps/v1", "odd/v2"]


# -- names in paths (case r08: `kl delete deployment '?x=1'` once deleted every Deployment) --------

def test_every_path_segment_is_escaped_and_names_are_validated() -> None:
    deploy = kinds.resolve("deploy")
    assert deploy is not None
    assert deploy.object_path("web", "default", "scale") == "/apis/apps/v1/namespaces/default/deployments/web/scale"
    for bad, why in (("?x=1", "RFC 1123 subdomain"), ("", "must not be empty"), ("a/b", "RFC 1123"),
                     ("Web", "RFC 1123"), ("..", "RFC 1123"), ("x" * 254, "no more than 253")):
        with pytest.raises(CliError, match=why) as caught:
            deploy.object_path(bad, "default")
        assert "\n" not in str(caught.value)
    namespace = kinds.resolve("ns")
    assert namespace is not None
    with pytest.raises(CliError, match="RFC 1123 label"):
        namespace.object_path("a.b", None)  # subdomain, but namespaces are labels
    with pytest.raises(CliError, match="invalid namespace"):
        deploy.collection_path("shop?x=1")
    # A kind only discovery knows: the path-segment rule, and escaping of whatever it allows.
    crd = kinds.ResourceInfo("example.com", "v1", "Widget", "widgets", True)
    assert crd.object_path("Odd Name?", "default") == "/apis/example.com/v1/namespaces/default/widgets/Odd%20Name%3F"
    for bad in (".", "..", "a/b", "100%"):
        with pytest.raises(CliError, match="may not"):
            crd.object_path(bad, "default")
