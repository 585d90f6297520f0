from pathlib import Path
from typing import Any

import pytest

from kubelite.api import (
    ApiError,
    Container,
    ContainerPort,
    Deployment,
    Event,
    Lease,
    Namespace,
    Node,
    Pod,
    PodSpec,
    Probe,
    ReplicaSet,
    ResourceRequirements,
    Taint,
    Toleration,
    load_documents,
    parse_object,
    resolve_int_or_percent,
    unknown_fields,
)
from kubelite.api.resources import ALL_RESOURCES
from tests.helpers import without_nulls

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))

# Manifests from the Kubernetes documentation (and one `kubectl get -o yaml`), verbatim.
DOCS_MANIFESTS = [
    """
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    ports:
    - containerPort: 80
""",
    """
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
  labels:
    app: guestbook
    tier: frontend
spec:
  # modify replicas according to your case
  replicas: 3
  selector:
    matchLabels:
      tier: frontend
  template:
    metadata:
      labels:
        tier: frontend
    spec:
      containers:
      - name: php-redis
        image: us-docker.pkg.dev/google-samples/containers/gb-frontend:v5
""",
    """
apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-exec
spec:
  containers:
  - name: liveness
    image: registry.k8s.io/busybox
    args:
    - /bin/sh
    - -c
    - touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600
    livenessProbe:
      exec:
        command:
        - cat
        - /tmp/healthy
      initialDelaySeconds: 5
      periodSeconds: 5
""",
    """
apiVersion: v1
kind: Pod
metadata:
  name: frontend
spec:
  containers:
  - name: app
    image: images.my-company.example/app:v4
    resources:
      requests:
        memory: "64Mi"
        cpu: "250m"
      limits:
        memory: "128Mi"
        cpu: "500m"
  - name: log-aggregator
    image: images.my-company.example/log-aggregator:v6
    resources:
      requests:
        memory: "64Mi"
        cpu: "250m"
      limits:
        memory: "128Mi"
        cpu: "500m"
""",
    """
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels:
    env: test
spec:
  containers:
  - name: nginx
    image: nginx
    imagePullPolicy: IfNotPresent
  tolerations:
  - key: "example-key"
    operator: "Exists"
    effect: "NoSchedule"
  nodeSelector:
    disktype: ssd
""",
    """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  selector:
    matchLabels:
      app: nginx
  minReadySeconds: 5
  revisionHistoryLimit: 5
  progressDeadlineSeconds: 120
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: nginx
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: nginx
        image: nginx:1.16.1
        env:
        - name: DEMO_GREETING
          value: "Hello from the environment"
        ports:
        - containerPort: 80
          name: http
          protocol: TCP
        readinessProbe:
          httpGet:
            path: /
            port: http
            scheme: HTTP
          timeoutSeconds: 1
          successThreshold: 1
          failureThreshold: 3
        startupProbe:
          tcpSocket:
            port: 80
        volumeMounts:
        - name: cache
          mountPath: /cache
      volumes:
      - name: cache
        emptyDir: {}
""",
    """
apiVersion: v1
kind: Namespace
metadata:
  name: development
  labels:
    name: development
""",
    """
apiVersion: v1
kind: Node
metadata:
  name: 10.240.79.157
  labels:
    name: my-first-k8s-node
""",
    """
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: kubelite-controller-manager
  namespace: kube-system
spec:
  holderIdentity: cm-1_4f2d
  leaseDurationSeconds: 15
  acquireTime: "2024-05-01T10:00:00.000000Z"
  renewTime: "2024-05-01T10:00:05.123456Z"
  leaseTransitions: 3
""",
    """
apiVersion: v1
kind: Event
metadata:
  name: web-7d4b9c-x2x.17c3a8b5e1d2f3a4
  namespace: default
involvedObject:
  apiVersion: v1
  kind: Pod
  name: web-7d4b9c-x2x
  namespace: default
  uid: 0b8b2a5e-8c59-4d5e-bd0e-2a4c6e1f9a11
  resourceVersion: "123"
  fieldPath: spec.containers{web}
reason: BackOff
message: Back-off restarting failed container web in pod web-7d4b9c-x2x_default
type: Warning
count: 4
firstTimestamp: "2024-05-01T10:00:00Z"
lastTimestamp: "2024-05-01T10:02:00Z"
source:
  component: kubelet
  host: node-1
reportingComponent: kubelet
reportingInstance: node-1
""",
    """
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2024-05-01T10:00:00Z"
  generateName: web-7d4b9c-
  labels:
    app: web
    pod-template-hash: 7d4b9c
  name: web-7d4b9c-x2x
  namespace: default
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: web-7d4b9c
    uid: 5f1d2c3b-0000-4000-8000-000000000001
  resourceVersion: "4242"
  uid: 0b8b2a5e-8c59-4d5e-bd0e-2a4c6e1f9a11
spec:
  containers:
  - image: kubelite/demo:latest
    imagePullPolicy: Never
    name: web
  nodeName: node-1
  restartPolicy: Always
status:
  conditions:
  - lastProbeTime: null
    lastTransitionTime: "2024-05-01T10:00:02Z"
    status: "True"
    type: Ready
  - lastTransitionTime: "2024-05-01T10:00:00Z"
    status: "True"
    type: PodScheduled
  containerStatuses:
  - containerID: docker://3f0e1a
    image: kubelite/demo:latest
    imageID: docker-pullable://kubelite/demo@sha256:abc
    lastState:
      terminated:
        containerID: docker://2e9d
        exitCode: 137
        finishedAt: "2024-05-01T10:00:01Z"
        reason: OOMKilled
        startedAt: "2024-05-01T10:00:00Z"
    name: web
    ready: true
    restartCount: 1
    started: true
    state:
      running:
        startedAt: "2024-05-01T10:00:01Z"
  hostIP: 192.168.1.10
  hostIPs:
  - ip: 192.168.1.10
  phase: Running
  podIP: 10.244.1.5
  podIPs:
  - ip: 10.244.1.5
  startTime: "2024-05-01T10:00:00Z"
""",
]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip_exactly(path: Path) -> None:
    docs = load_documents(path.read_text())
    assert docs
    for doc in docs:
        assert parse_object(doc).to_dict() == doc


@pytest.mark.parametrize("text", DOCS_MANIFESTS, ids=range(len(DOCS_MANIFESTS)))
def test_docs_manifests_round_trip_exactly(text: str) -> None:
    (doc,) = load_documents(text)
    obj = parse_object(doc)
    assert obj.to_dict() == without_nulls(doc)
    assert type(obj).model_validate(obj.to_dict()) == obj


def test_every_resource_model_has_its_type() -> None:
    for resource in ALL_RESOURCES:
        assert resource.model.API_VERSION == resource.api_version
        assert resource.model.KIND == resource.kind
        obj = resource.model()
        assert (obj.api_version, obj.kind) == (resource.api_version, resource.kind)


def test_kubernetes_json_names() -> None:
    (doc,) = load_documents(DOCS_MANIFESTS[-1])
    pod = parse_object(doc)
    assert isinstance(pod, Pod) and pod.status is not None
    assert pod.status.pod_ip == "10.244.1.5"
    assert pod.status.host_ip == "192.168.1.10"
    status = pod.status.container_statuses[0]  # type: ignore[index]
    assert status.container_id == "docker://3f0e1a"
    assert status.image_id.startswith("docker-pullable://")
    assert status.last_state and status.last_state.terminated and status.last_state.terminated.exit_code == 137
    probe = Probe.model_validate({"exec": {"command": ["true"]}})
    assert probe.exec_ and probe.exec_.command == ["true"]
    assert probe.to_dict() == {"exec": {"command": ["true"]}}
    assert ContainerPort(container_port=80, host_ip="0.0.0.0").to_dict() == {"containerPort": 80, "hostIP": "0.0.0.0"}


def test_construction_by_python_names() -> None:
    pod = Pod.model_validate(
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i", "image_pull_policy": "Never"}]}}
    )
    assert pod.to_dict() == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Never"}]},
    }
    built = Pod(spec=PodSpec(containers=[Container(name="c", image="i", image_pull_policy="Never")]))
    built.metadata.name = "p"
    assert built == pod


def test_pod_helpers() -> None:
    pod = Pod(spec=PodSpec(containers=[Container(name="c", image="nginx")]))
    assert pod.phase == "Pending" and not pod.is_ready() and pod.node_name is None
    assert pod.spec.effective_restart_policy == "Always"
    assert pod.spec.effective_termination_grace_period_seconds == 30
    (doc,) = load_documents(DOCS_MANIFESTS[-1])
    running = parse_object(doc)
    assert isinstance(running, Pod) and running.status
    assert running.phase == "Running" and running.is_ready() and running.node_name == "node-1"
    assert running.status.condition("PodScheduled") is not None
    assert running.status.condition("Initialized") is None
    assert running.metadata.controller_ref() is not None


def test_deep_copy_is_independent() -> None:
    (doc,) = load_documents(DOCS_MANIFESTS[-1])
    pod = parse_object(doc)
    copy = pod.deep_copy()
    copy.metadata.labels["app"] = "changed"  # type: ignore[index]
    assert pod.metadata.labels == {"app": "web", "pod-template-hash": "7d4b9c"}


def test_probe_and_container_defaults() -> None:
    probe = Probe()
    assert (probe.effective_period_seconds, probe.effective_timeout_seconds, probe.effective_failure_threshold,
            probe.effective_success_threshold, probe.effective_initial_delay_seconds) == (10, 1, 3, 1, 0)
    assert Probe(period_seconds=2).effective_period_seconds == 2
    pull = {image: Container(name="c", image=image).effective_image_pull_policy
            for image in ("nginx", "nginx:latest", "nginx:1.25", "localhost:5000/app", "a@sha256:00")}
    assert pull == {"nginx": "Always", "nginx:latest": "Always", "nginx:1.25": "IfNotPresent",
                    "localhost:5000/app": "Always", "a@sha256:00": "IfNotPresent"}
    assert ContainerPort(container_port=1).effective_protocol == "TCP"


def test_resource_helpers() -> None:
    resources = ResourceRequirements(requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": 1, "memory": "1G"})
    assert resources.cpu_request_millis() == 250
    assert resources.memory_request_bytes() == 64 * 2**20
    assert resources.cpu_limit_millis() == 1000
    assert resources.memory_limit_bytes() == 10**9
    limits_only = ResourceRequirements(limits={"cpu": "0.5"})
    assert limits_only.cpu_request_millis() == 500  # a missing request defaults to the limit
    assert ResourceRequirements().memory_request_bytes() == 0
    assert ResourceRequirements().cpu_limit_millis() is None


def test_deployment_defaults_and_fenceposts() -> None:
    deployment = Deployment()
    assert deployment.replicas == 1
    spec = deployment.spec
    assert (spec.effective_max_surge, spec.effective_max_unavailable) == ("25%", "25%")
    assert spec.effective_revision_history_limit == 10
    assert spec.effective_progress_deadline_seconds == 600
    assert spec.effective_strategy_type == "RollingUpdate"
    deployment = Deployment.model_validate({"spec": {"replicas": 10}})
    assert deployment.max_surge_and_unavailable() == (3, 2)  # 25% surge rounds up, unavailable down
    deployment = Deployment.model_validate(
        {"spec": {"replicas": 1, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}}}
    )
    assert deployment.max_surge_and_unavailable() == (0, 1)
    assert Deployment.model_validate({"spec": {"replicas": 0}}).replicas == 0
    assert ReplicaSet().replicas == 1


def test_resolve_int_or_percent() -> None:
    assert resolve_int_or_percent(3, 10, round_up=True) == 3
    assert resolve_int_or_percent("25%", 10, round_up=True) == 3
    assert resolve_int_or_percent("25%", 10, round_up=False) == 2
    with pytest.raises(ValueError):
        resolve_int_or_percent("x%", 10, round_up=True)


def test_int_or_string_fields_keep_their_type() -> None:
    deployment = Deployment.model_validate(
        {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}}}
    )
    rolling = deployment.spec.strategy.rolling_update  # type: ignore[union-attr]
    assert rolling is not None and rolling.max_surge == 1 and rolling.max_unavailable == "25%"


def test_tolerations_and_node_helpers() -> None:
    taint = Taint(key="node.kubernetes.io/unreachable", effect="NoExecute")
    assert Toleration(operator="Exists").tolerates(taint)
    assert Toleration(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute").tolerates(taint)
    assert not Toleration(key="other", operator="Exists").tolerates(taint)
    assert not Toleration(key="node.kubernetes.io/unreachable", effect="NoSchedule").tolerates(taint)
    assert Toleration(key="k", value="v").tolerates(Taint(key="k", value="v", effect="NoSchedule"))
    assert not Toleration(key="k", value="v").tolerates(Taint(key="k", value="w", effect="NoSchedule"))
    node = Node.model_validate({
        "metadata": {"name": "n1"},
        "spec": {"taints": [taint.to_dict()], "unschedulable": True, "podCIDR": "10.244.1.0/24"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "capacity": {"cpu": "4", "memory": "8Gi"},
                   "nodeInfo": {"machineID": "m", "bootID": "b", "systemUUID": "s", "kubeletVersion": "v0.1.0"}},
    })
    assert node.is_ready() and node.unschedulable and node.taints == [taint]
    assert node.spec and node.spec.pod_cidr == "10.244.1.0/24"
    assert node.status and node.status.node_info and node.status.node_info.machine_id == "m"
    assert not Node().is_ready() and Node().taints == [] and not Node().unschedulable


def test_load_documents() -> None:
    text = """
---
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: b}}
- {apiVersion: v1, kind: Namespace, metadata: {name: c, creationTimestamp: 2024-01-01T00:00:00Z}}
"""
    docs = load_documents(text)
    assert [d["metadata"]["name"] for d in docs] == ["a", "b", "c"]
    assert docs[2]["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"  # kept a string, as in Kubernetes
    assert load_documents('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}}')[0]["kind"] == "Namespace"
    assert load_documents('{"kind": "PodList", "items": [{"kind": "Pod"}]}') == [{"kind": "Pod"}]
    assert load_documents("") == []


@pytest.mark.parametrize(("text", "where"), [("a: [1\nb: 2\n", "line 2"), ("a: b\n c: d\n  - x", "line 2"),
                                               ("x:\n\t- y", "line 2")])
def test_malformed_yaml_is_a_bad_request_naming_the_line(text: str, where: str) -> None:
    with pytest.raises(ApiError) as info:
        load_documents(text)
    assert info.value.code == 400 and where in info.value.status.message  # type: ignore[operator]


def test_non_object_documents_are_bad_requests() -> None:
    with pytest.raises(ApiError, match="must be an object"):
        load_documents("- 1\n- 2\n")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"apiVersion": "v1", "kind": "Widget"}, 'no matches for kind "Widget" in version "v1"'),
        ({"apiVersion": "v1", "kind": "Deployment"}, 'no matches for kind "Deployment" in version "v1"'),
        ({"apiVersion": "apps/v1beta1", "kind": "Deployment"}, 'in version "apps/v1beta1"'),
        ({"apiVersion": "v1"}, "Kind"),
        ({"kind": "Pod"}, "apiVersion"),
    ],
)
def test_unknown_types_are_bad_requests(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_object(doc)
    assert info.value.code == 400 and info.value.reason == "BadRequest"
    assert message in (info.value.status.message or "")


def test_type_errors_are_invalid_with_field_paths() -> None:
    doc = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": "abc",
            "strategy": {"rollingUpdate": {"maxSurge": [1]}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}, {}]}]}},
        },
    }
    with pytest.raises(ApiError) as info:
        parse_object(doc)
    status = info.value.status
    assert status.code == 422 and status.reason == "Invalid"
    assert status.message and status.message.startswith('Deployment.apps "web" is invalid: ')
    causes = {c.field: c.message for c in status.details.causes}  # type: ignore[union-attr]
    assert causes == {
        # kube-apiserver's decoder words (Go's encoding/json), with the field path
        "spec.replicas": 'Invalid value: "abc": json: cannot unmarshal string into Go struct field '
                         "DeploymentSpec.spec.replicas of type int32",
        "spec.strategy.rollingUpdate.maxSurge": "Invalid value: [1]: json: cannot unmarshal array into Go value of "
                                                "type int32",
        "spec.template.spec.containers[0].ports[1].containerPort": "Required value",
    }


def test_semantic_errors_are_invalid() -> None:
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {"containers": []}}
    with pytest.raises(ApiError) as info:
        parse_object(doc)
    assert info.value.code == 422
    fields = [c.field for c in info.value.status.details.causes]  # type: ignore[union-attr]
    assert fields == ["metadata.name", "spec.containers"]


def test_unknown_fields_are_kept_and_reported() -> None:
    (doc,) = load_documents(DOCS_MANIFESTS[5])
    deployment = parse_object(doc)
    assert unknown_fields(deployment) == []  # volumes and volumeMounts are acted on since issue 14
    pod = Pod.model_validate({
        "metadata": {"name": "p", "labels": {"x": "y"}, "annotations": {"a": "b"}, "managedFields": []},
        "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [
            {"name": "c", "image": "i", "securityContext": {"privileged": True, "seLinuxOptions": {"level": "s0"}},
             "resources": {"requests": {"cpu": "1", "nvidia.com/gpu": 1}},
             "livenessProbe": {"grpc": {"port": 1}, "exec": {"command": ["x"], "shell": True}}}]},
        "status": {"nominatedNodeName": "n1"},
        "extra": 1,
    })
    assert sorted(unknown_fields(pod)) == sorted([
        "extra", "spec.containers[0].securityContext.seLinuxOptions",
        "spec.containers[0].livenessProbe.grpc", "spec.containers[0].livenessProbe.exec.shell", "status.nominatedNodeName",
    ])
    for model in (Namespace(), Lease(), Event(), Deployment(), ReplicaSet(), Node()):
        assert unknown_fields(model) == []
