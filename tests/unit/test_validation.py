import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api import load_documents, parse_object
from kubelite.api.validation import validate_object
from tests.helpers import refusal_causes as causes_of

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
Doc = dict[str, Any]


def deployment_doc() -> Doc:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx",
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                }]},
            },
        },
    }


def pod_doc() -> Doc:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def fields_of(doc: Doc) -> dict[str, str]:
    found: dict[str, str] = {}
    for c in causes_of(doc):
        found[c.field or ""] = f"{found[c.field or '']}; {c.message}" if c.field in found else c.message or ""
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    for doc in load_documents(path.read_text()):
        assert validate_object(parse_object(doc)) == []


def test_base_documents_are_valid() -> None:
    assert causes_of(deployment_doc()) == []
    assert causes_of(pod_doc()) == []


def test_fields_kept_without_acting_on_them_are_valid_when_kubernetes_says_so() -> None:
    """A gRPC probe is a handler (kube accepts it; kubelite warns it does not run it); valid hook ports pass."""
    doc = pod_doc()
    doc["spec"]["containers"][0].update(
        livenessProbe={"grpc": {"port": 9000}}, lifecycle={"preStop": {"httpGet": {"port": "http"}}})
    doc["spec"]["initContainers"] = [{"name": "i", "image": "x", "ports": [{"containerPort": 80, "hostPort": 0}]}]
    assert causes_of(doc) == []


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """A mutation that sets a dotted path (``a.b[0].c``) in a document."""

    def apply(doc: Doc) -> None:
        *parents, last = path.replace("]", "").replace("[", ".").split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value

    return apply


C0 = "spec.template.spec.containers[0]"
DEPLOYMENT_CASES: list[tuple[str, Any, str, str]] = [
    ("metadata.name", "Web", "metadata.name", "lowercase RFC 1123 subdomain"),
    ("metadata.name", None, "metadata.name", "name or generateName is required"),
    ("metadata.namespace", "Bad_NS", "metadata.namespace", "RFC 1123 label"),
    ("metadata.labels", {"app": "-bad"}, "metadata.labels", 'Invalid value: "-bad"'),
    ("metadata.labels", {"bad key": "x"}, "metadata.labels", 'Invalid value: "bad key"'),
    ("metadata.annotations", {"a": "x" * (256 * 1024)}, "metadata.annotations", "Too long"),
    ("spec.replicas", -1, "spec.replicas", "must be greater than or equal to 0"),
    ("spec.selector", None, "spec.selector", "Required value"),
    ("spec.selector", {}, "spec.selector", "empty selector is invalid for deployment"),
    ("spec.selector.matchLabels", {"app": "db"}, "spec.template.metadata.labels",
     "`selector` does not match template `labels`"),
    ("spec.selector.matchExpressions", [{"key": "app", "operator": "Like", "values": ["web"]}],
     "spec.selector.matchExpressions[0].operator", 'Unsupported value: "Like"'),
    ("spec.selector.matchExpressions", [{"key": "app", "operator": "In"}],
     "spec.selector.matchExpressions[0].values", "Required value"),
    ("spec.template", None, "spec.template", "Required value"),
    ("spec.template.spec.restartPolicy", "Never", "spec.template.spec.restartPolicy",
     'Unsupported value: "Never": supported values: "Always"'),
    ("spec.template.spec.containers", [], "spec.template.spec.containers", "Required value"),
    (f"{C0}.name", "Web_1", f"{C0}.name", "RFC 1123 label"),
    (f"{C0}.image", None, f"{C0}.image", "Required value"),
    (f"{C0}.image", "  ", f"{C0}.image", "Required value"),
    (f"{C0}.imagePullPolicy", "Sometimes", f"{C0}.imagePullPolicy", 'Unsupported value: "Sometimes"'),
    (f"{C0}.ports[1].containerPort", 0, f"{C0}.ports[1].containerPort", "between 1 and 65535"),
    (f"{C0}.ports[1].containerPort", 65536, f"{C0}.ports[1].containerPort", "between 1 and 65535"),
    (f"{C0}.ports[1].hostPort", 70000, f"{C0}.ports[1].hostPort", "between 1 and 65535"),
    (f"{C0}.ports[1].protocol", "HTTP", f"{C0}.ports[1].protocol", 'supported values: "SCTP", "TCP", "UDP"'),
    (f"{C0}.ports[1].name", "http", f"{C0}.ports[1].name", 'Duplicate value: "http"'),
    (f"{C0}.ports[1].name", "a-very-long-port-name", f"{C0}.ports[1].name", "no more than 15 characters"),
    (f"{C0}.env", [{"name": "A=B", "value": "x"}], f"{C0}.env[0].name", "must not contain '='"),
    (f"{C0}.resources.requests.cpu", "lots", f"{C0}.resources.requests.cpu", 'Invalid value: "lots"'),
    (f"{C0}.resources.requests.memory", "-1Mi", f"{C0}.resources.requests.memory", "greater than or equal to 0"),
    (f"{C0}.resources.requests.cpu", "2", f"{C0}.resources.requests.cpu",
     "must be less than or equal to cpu limit of 1"),
    # Kubernetes: non-negative (a 0 is defaulted before validation: see test_pure's probe defaults)
    (f"{C0}.readinessProbe.periodSeconds", -1, f"{C0}.readinessProbe.periodSeconds",
     "must be greater than or equal to 0"),
    (f"{C0}.readinessProbe.failureThreshold", -1, f"{C0}.readinessProbe.failureThreshold",
     "must be greater than or equal to 0"),
    (f"{C0}.readinessProbe.terminationGracePeriodSeconds", 0, f"{C0}.readinessProbe.terminationGracePeriodSeconds",
     "must be greater than 0"),
    (f"{C0}.readinessProbe.timeoutSeconds", 2**31, f"{C0}.readinessProbe.timeoutSeconds",
     "json: cannot unmarshal number 2147483648 into Go struct field Probe.spec.template.spec.containers."
     "readinessProbe.timeoutSeconds of type int32"),
    (f"{C0}.lifecycle", {"preStop": {"httpGet": {"port": 0}}}, f"{C0}.lifecycle.preStop.httpGet.port",
     "must be between 1 and 65535, inclusive"),
    (f"{C0}.lifecycle", {"postStart": {"tcpSocket": {"port": "Not_A_Name"}}},
     f"{C0}.lifecycle.postStart.tcpSocket.port", "Invalid value"),
    (f"{C0}.readinessProbe", {"grpc": {"port": 70000}}, f"{C0}.readinessProbe.grpc.port",
     "must be between 1 and 65535, inclusive"),
    ("spec.template.spec.initContainers", [{"name": "i", "image": "x", "ports": [{"containerPort": 0}]}],
     "spec.template.spec.initContainers[0].ports[0].containerPort", "must be between 1 and 65535, inclusive"),
    ("spec.template.spec.initContainers", [{"name": "i", "image": "x", "ports": [{"containerPort": 80,
                                                                                    "hostPort": 65536}]}],
     "spec.template.spec.initContainers[0].ports[0].hostPort", "must be between 1 and 65535, inclusive"),
    ("spec.template.spec.activeDeadlineSeconds", 0, "spec.template.spec.activeDeadlineSeconds",
     "must be between 1 and 2147483647, inclusive"),
    ("spec.template.spec.activeDeadlineSeconds", "60", "spec.template.spec.activeDeadlineSeconds",
     "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.activeDeadlineSeconds of type "
     "int64"),
    ("spec.replicas", 2**31, "spec.replicas",
     "Invalid value: 2147483648: json: cannot unmarshal number 2147483648 into Go struct field "
     "DeploymentSpec.spec.replicas of type int32"),
    ("spec.replicas", 1.5, "spec.replicas", "cannot unmarshal number 1.5 into Go struct field"),
    ("spec.replicas", True, "spec.replicas", "cannot unmarshal bool into Go struct field"),
    ("spec.replicas", -1, "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
    ("metadata.generation", -1, "metadata.generation", "must be greater than or equal to 0"),
    ("metadata.generation", 2**63, "metadata.generation", "of type int64"),
    ("spec.progressDeadlineSeconds", -1, "spec.progressDeadlineSeconds", "must be greater than or equal to 0"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": 2**31}}, "spec.strategy.rollingUpdate.maxSurge",
     "json: cannot unmarshal number 2147483648 into Go value of type int32"),
    ("status", {"replicas": 1, "readyReplicas": 2}, "status.readyReplicas", "cannot be greater than status.replicas"),
    ("status", {"replicas": 2, "readyReplicas": 1, "availableReplicas": 2}, "status.availableReplicas",
     "cannot be greater than readyReplicas"),
    ("status", {"collisionCount": -1}, "status.collisionCount", "must be greater than or equal to 0"),
    (f"{C0}.readinessProbe.initialDelaySeconds", -1, f"{C0}.readinessProbe.initialDelaySeconds",
     "greater than or equal to 0"),
    (f"{C0}.readinessProbe.httpGet.port", 0, f"{C0}.readinessProbe.httpGet.port", "between 1 and 65535"),
    (f"{C0}.readinessProbe.httpGet.scheme", "FTP", f"{C0}.readinessProbe.httpGet.scheme", "Unsupported value"),
    (f"{C0}.readinessProbe.tcpSocket", {"port": 80}, f"{C0}.readinessProbe", "more than 1 handler type"),
    (f"{C0}.readinessProbe", {"periodSeconds": 1}, f"{C0}.readinessProbe", "must specify a handler type"),
    (f"{C0}.livenessProbe", {"exec": {"command": ["true"]}, "successThreshold": 2},
     f"{C0}.livenessProbe.successThreshold", "must be 1"),
    (f"{C0}.livenessProbe", {"exec": {}}, f"{C0}.livenessProbe.exec.command", "Required value"),
    ("spec.template.spec.tolerations", [{"key": "k", "operator": "Exists", "value": "v"}],
     "spec.template.spec.tolerations[0].operator", "value must be empty"),
    ("spec.template.spec.tolerations", [{"operator": "Equal", "value": "v"}],
     "spec.template.spec.tolerations[0].operator", "operator must be Exists when `key` is empty"),
    ("spec.template.spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "NoSchedule",
                                         "tolerationSeconds": 5}],
     "spec.template.spec.tolerations[0].effect", "effect must be 'NoExecute'"),
    ("spec.template.spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "Never"}],
     "spec.template.spec.tolerations[0].effect", "Unsupported value"),
    ("spec.template.spec.nodeSelector", {"disk": "s s d"}, "spec.template.spec.nodeSelector", "Invalid value"),
    ("spec.template.spec.terminationGracePeriodSeconds", -1, "spec.template.spec.terminationGracePeriodSeconds",
     "greater than or equal to 0"),
    ("spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}, "spec.strategy.rollingUpdate",
     "may not be specified when strategy `type` is 'Recreate'"),
    ("spec.strategy", {"type": "BlueGreen"}, "spec.strategy.type", 'Unsupported value: "BlueGreen"'),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
     "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": "ten"}}, "spec.strategy.rollingUpdate.maxSurge",
     "a valid percent string"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": -1}}, "spec.strategy.rollingUpdate.maxSurge",
     "greater than or equal to 0"),
    ("spec.strategy", {"rollingUpdate": {"maxUnavailable": "150%"}}, "spec.strategy.rollingUpdate.maxUnavailable",
     "must not be greater than 100%"),
    ("spec.revisionHistoryLimit", -1, "spec.revisionHistoryLimit", "greater than or equal to 0"),
    ("spec.progressDeadlineSeconds", 5, "spec.progressDeadlineSeconds", "must be greater than minReadySeconds"),
]


@pytest.mark.parametrize(("path", "value", "field", "message"), DEPLOYMENT_CASES,
                         ids=[f"{c[0]}={c[1]!r:.30}" for c in DEPLOYMENT_CASES])
def test_deployment_errors_name_the_field(path: str, value: Any, field: str, message: str) -> None:
    doc = deployment_doc()
    if path == "spec.progressDeadlineSeconds":
        doc["spec"]["minReadySeconds"] = 10
    _set(path, value)(doc)
    causes = fields_of(doc)
    assert field in causes, causes
    assert message in causes[field]


@pytest.mark.parametrize(
    "strategy",
    [{"type": "Recreate"}, {"rollingUpdate": {"maxSurge": 0}}, {"rollingUpdate": {"maxUnavailable": 0}},
     {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "100%"}}, {"type": "RollingUpdate"}],
)
def test_valid_strategies(strategy: Doc) -> None:
    doc = deployment_doc()
    doc["spec"]["strategy"] = strategy
    assert causes_of(doc) == []


def test_set_based_selector_matching_template() -> None:
    doc = deployment_doc()
    doc["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]},
                                                    {"key": "canary", "operator": "DoesNotExist"}]}
    assert causes_of(doc) == []


def test_replica_set_uses_the_same_rules() -> None:
    doc = deployment_doc()
    doc["kind"] = "ReplicaSet"
    doc["spec"]["selector"] = {}
    assert fields_of(doc) == {"spec.selector": "Invalid value: {}: empty selector is invalid for replicaset"}


def test_pod_rules() -> None:
    doc = pod_doc()
    doc["spec"]["restartPolicy"] = "Never"
    doc["spec"]["nodeName"] = "node-1.example.com"
    assert causes_of(doc) == []
    doc["spec"]["restartPolicy"] = "Sometimes"
    doc["spec"]["containers"].append({"name": "c", "image": "x"})
    assert fields_of(doc) == {
        "spec.restartPolicy": 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        "spec.containers[1].name": 'Duplicate value: "c"',
    }


def test_generate_name_replaces_name() -> None:
    doc = pod_doc()
    doc["metadata"] = {"generateName": "web-7d4b9c-"}
    assert causes_of(doc) == []
    doc["metadata"] = {"generateName": "Web-"}
    assert list(fields_of(doc)) == ["metadata.generateName"]


def test_cluster_scoped_kinds() -> None:
    assert causes_of({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}) == []
    assert list(fields_of({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team.a"}})) == [
        "metadata.name"]
    assert list(fields_of({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "namespace": "x"}})) == [
        "metadata.namespace"]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
            "spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                                {"key": "k", "effect": "Sometimes"}]}}
    assert list(fields_of(node)) == ["spec.taints[1].effect"]


def test_lease_and_event_rules() -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 0, "leaseTransitions": -1}}
    assert list(fields_of(lease)) == ["spec.leaseDurationSeconds", "spec.leaseTransitions"]
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "name": "p"}, "type": "Error", "count": 1}
    assert list(fields_of(event)) == ["type"]


dns_labels = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
subdomains = st.lists(dns_labels, min_size=1, max_size=4).map(".".join).filter(lambda s: len(s) <= 253)


@given(subdomains)
def test_valid_subdomain_names_are_accepted(name: str) -> None:
    doc = pod_doc()
    doc["metadata"]["name"] = name
    assert causes_of(doc) == []


@given(st.text(min_size=1, max_size=70))
def test_arbitrary_names_are_accepted_iff_they_are_dns_labels(name: str) -> None:
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    expected_ok = len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) is not None
    assert (causes_of(doc) == []) is expected_ok


@given(st.dictionaries(st.from_regex(r"([a-z]{1,10}\.[a-z]{2,5}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?",
                                     fullmatch=True),
                       st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?", fullmatch=True),
                       min_size=1, max_size=5))
def test_valid_labels_pass_and_selector_must_match(labels: dict[str, str]) -> None:
    doc = deployment_doc()
    doc["spec"]["selector"] = {"matchLabels": labels}
    doc["spec"]["template"]["metadata"]["labels"] = {**labels, "extra": "x"}
    assert causes_of(doc) == []
    mismatched = copy.deepcopy(doc)
    mismatched["spec"]["template"]["metadata"]["labels"] = {k: v + "z" for k, v in labels.items()}
    assert list(fields_of(mismatched)) == ["spec.template.metadata.labels"]


@given(st.sampled_from(["100m", "0.5", "1", "2e3", "128Mi", "1G", "1.5Gi", ".5", "1E"]))
def test_valid_quantities_pass(amount: str) -> None:
    doc = deployment_doc()
    doc["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": amount}}
    assert causes_of(doc) == []


def test_quoted_numbers_and_snake_case_keys_are_rejected_like_kubernetes() -> None:
    from kubelite.api import errors as api_errors
    from kubelite.api.parse import parse_object

    doc = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": "3", "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}},
                         "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"container_port": 80}]}]}},
        },
    }
    with pytest.raises(api_errors.ApiError) as info:
        parse_object(doc)
    fields = {cause.field for cause in info.value.status.details.causes}
    assert fields == {"spec.replicas", "spec.template.spec.containers[0].ports[0].containerPort"}
