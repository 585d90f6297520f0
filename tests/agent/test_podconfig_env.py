"""Pure tests of a container's environment, command/args expansion and the downward API
(agent/podconfig/env.py, fieldpath.py): the kubelet's makeEnvironmentVariables and expansion."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import Pod
from agent.podconfig.env import ConfigError, Sources, expand, resolve
from agent.podconfig.fieldpath import PodRuntimeFacts

FACTS = PodRuntimeFacts(pod_ip="10.0.0.7", host_ip="127.0.0.1", allocatable_cpu_millis=4000,
                        allocatable_memory_bytes=8 << 30)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sources(config_maps: dict[str, dict[str, Any]] | None = None,
            secrets: dict[str, dict[str, Any]] | None = None) -> Sources:
    cms, secs = config_maps or {}, secrets or {}
    return Sources(config_map=lambda ns, name: cms.get(f"{ns}/{name}"),
                   secret=lambda ns, name: secs.get(f"{ns}/{name}"))


def pod(container: dict[str, Any], **spec: Any) -> Pod:
    return Pod.model_validate({
        "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "labels": {"app": "web", "tier": "front"},
                     "annotations": {"note": 'say "hi"'}},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "x", **container}], **spec},
    })


def test_config_map_and_secret_keys_field_refs_and_expansion() -> None:
    p = pod({
        "command": ["sh", "-c", "echo $(GREETING) $(MISSING) $$(ESCAPED)"],
        "args": ["$(POD_NAME)"],
        "env": [
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "NOTE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "GREETING", "value": "hello $(POD_NAME) in $(COLOR) $(LATER)"},
            {"name": "LATER", "value": "late"},
        ],
    })
    got = resolve(p, p.spec.containers[0], sources({"prod/cfg": {"data": {"color": "blue"}}},
                                                  {"prod/creds": {"data": {"password": b64("s3cret")}}}), FACTS)
    assert got.env["COLOR"] == "blue" and got.env["PASSWORD"] == "s3cret"
    assert (got.env["POD_NAME"], got.env["NS"], got.env["APP"], got.env["NOTE"]) == ("web-1", "prod", "web", 'say "hi"')
    assert (got.env["IP"], got.env["NODE"], got.env["SA"], got.env["UID"]) == ("10.0.0.7", "n1", "default", "u-1")
    # only variables defined before are expanded; unknown references stay as written
    assert got.env["GREETING"] == "hello web-1 in blue $(LATER)"
    assert got.command == ["sh", "-c", "echo hello web-1 in blue $(LATER) $(MISSING) $(ESCAPED)"]
    assert got.args == ["web-1"]


def test_env_from_prefix_order_and_invalid_keys_skipped_with_a_warning() -> None:
    p = pod({
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}},
                    {"configMapRef": {"name": "absent", "optional": True}}],
        "env": [{"name": "user", "value": "explicit wins"}],
    })
    got = resolve(p, p.spec.containers[0], sources(
        {"prod/cfg": {"data": {"mode": "fast", "1bad": "x", "ok.key": "y"}}},
        {"prod/creds": {"data": {"user": b64("admin"), "bad key": b64("z")}}}), FACTS)
    assert got.env == {"CFG_mode": "fast", "CFG_1bad": "x", "CFG_ok.key": "y", "user": "explicit wins"}
    assert got.warnings == [("InvalidEnvironmentVariableNames",
                             "Keys [bad key] from the EnvFrom secret prod/creds were skipped since they are "
                             "considered invalid environment variable names.")]


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}], 'configmap "x" not found'),
    ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}],
     "couldn't find key k in ConfigMap prod/cfg"),
    ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], 'secret "s" not found'),
    ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}],
     "couldn't find key k in Secret prod/creds"),
])
def test_missing_non_optional_sources_name_the_problem_as_kube(env: list[dict[str, Any]], message: str) -> None:
    p = pod({"env": env})
    with pytest.raises(ConfigError) as caught:
        resolve(p, p.spec.containers[0], sources({"prod/cfg": {"data": {}}}, {"prod/creds": {"data": {}}}), FACTS)
    assert str(caught.value) == message


def test_optional_missing_sources_leave_the_variable_unset() -> None:
    p = pod({"env": [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k", "optional": True}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}},
        {"name": "C", "value": "$(A)"},
    ], "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]})
    got = resolve(p, p.spec.containers[0], sources(secrets={"prod/creds": {"data": {}}}), FACTS)
    assert got.env == {"C": "$(A)"}


@pytest.mark.parametrize(("resources", "ref", "want"), [
    ({"limits": {"cpu": "500m"}}, {"resource": "limits.cpu"}, "1"),  # ceil(0.5 / 1)
    ({"limits": {"cpu": "500m"}}, {"resource": "limits.cpu", "divisor": "1m"}, "500"),
    ({"requests": {"cpu": "250m"}}, {"resource": "requests.cpu", "divisor": "1m"}, "250"),
    ({"limits": {"memory": "64Mi"}}, {"resource": "limits.memory", "divisor": "1Mi"}, "64"),
    ({"limits": {"memory": "64Mi"}}, {"resource": "requests.memory"}, str(64 << 20)),  # request defaults to limit
    ({}, {"resource": "limits.cpu"}, "4"),  # no limit: the node's allocatable
    ({}, {"resource": "limits.memory", "divisor": "1Gi"}, "8"),
    ({}, {"resource": "requests.cpu"}, "0"),
])
def test_resource_field_ref_with_divisor_and_allocatable_default(resources: dict[str, Any], ref: dict[str, Any],
                                                                 want: str) -> None:
    p = pod({"resources": resources, "env": [{"name": "R", "valueFrom": {"resourceFieldRef": ref}}]})
    assert resolve(p, p.spec.containers[0], sources(), FACTS).env["R"] == want


@pytest.mark.parametrize(("text", "want"), [
    ("$(A)", "a"), ("$(A)$(B)", "ab"), ("$$(A)", "$(A)"), ("$$$(A)", "$a"), ("$(C)", "$(C)"),
    ("$(A", "$(A"), ("x$", "x$"), ("$x", "$x"), ("$()", "$()"), ("a$$b", "a$b"),
])
def test_expansion_table(text: str, want: str) -> None:
    values = {"A": "a", "B": "b"}
    assert expand(text, values.get) == want


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=30))
def test_expansion_leaves_text_without_dollar_alone(text: str) -> None:
    assert expand(text, lambda name: "X") == text
