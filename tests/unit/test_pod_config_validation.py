"""422 causes for init containers, volumes and volume mounts (kube's ValidatePodSpec)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_validation import fields_of, pod_doc


def with_spec(**spec: Any) -> dict[str, Any]:
    doc = pod_doc()
    doc["spec"].update(spec)
    return doc


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"initContainers": [{"name": "c", "image": "x"}]}, "spec.initContainers[0].name", 'Duplicate value: "c"'),
    ({"initContainers": [{"name": "i", "image": "x", "restartPolicy": "OnFailure"}]},
     "spec.initContainers[0].restartPolicy", 'Unsupported value: "OnFailure": supported values: "Always"'),
    ({"initContainers": [{"name": "i"}]}, "spec.initContainers[0].image", "Required value"),
    ({"initContainers": [{"name": "i", "image": "x", "ports": [{"containerPort": 0}]}]},
     "spec.initContainers[0].ports[0].containerPort", "must be between 1 and 65535, inclusive"),
    ({"containers": [{"name": "c", "image": "x", "restartPolicy": "Always"}]}, "spec.containers[0].restartPolicy",
     "Forbidden: may not be set for non-init containers"),
    ({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}, "spec.volumes[1].name",
     'Duplicate value: "v"'),
    ({"containers": [{"name": "c", "image": "x", "volumeMounts": [{"name": "nope", "mountPath": "/n"}]}]},
     "spec.containers[0].volumeMounts[0].name", 'Not found: "nope"'),
])
def test_pod_config_errors_name_the_field(spec: dict[str, Any], field: str, message: str) -> None:
    causes = fields_of(with_spec(**spec))
    assert field in causes, causes
    assert message in causes[field]


def test_a_pod_with_sidecar_volumes_and_mounts_is_valid() -> None:
    doc = with_spec(
        initContainers=[{"name": "proxy", "image": "x", "restartPolicy": "Always",
                         "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]}],
        containers=[{"name": "c", "image": "x", "volumeMounts": [{"name": "cfg", "mountPath": "/cfg", "subPath": "a"}],
                     "envFrom": [{"configMapRef": {"name": "cfg"}}]}],
        volumes=[{"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a"}]}}])
    assert fields_of(doc) == {}
