"""The real kubectl (v1.32): server-side apply with field ownership, and strategic merge patches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gateway.conftest import Kubectl

pytestmark = pytest.mark.timeout(120)

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, team: blue}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: kubelite/demo:latest
        ports:
        - containerPort: 8080
        env:
        - {name: GREETING, value: hello}
        - {name: COLOR, value: blue}
      - name: sidecar
        image: busybox
"""


async def _get(kubectl: Kubectl, *extra: str) -> dict[str, Any]:
    result = await kubectl("get", "deployment", "web", "-o", "json", *extra)
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "web.yaml"
    path.write_text(text)
    return str(path)


async def test_server_side_apply_removes_dropped_fields_and_shows_managed_fields(
    kubectl: Kubectl, tmp_path: Path,
) -> None:
    first = await kubectl("apply", "--server-side", "-f", _write(tmp_path, MANIFEST))
    assert "deployment.apps/web serverside-applied" in first.stdout
    smaller = MANIFEST.replace(", team: blue", "").replace("        - {name: COLOR, value: blue}\n", "") \
        .replace("      - name: sidecar\n        image: busybox\n", "")
    await kubectl("apply", "--server-side", "-f", _write(tmp_path, smaller))
    doc = await _get(kubectl, "--show-managed-fields")
    assert doc["metadata"]["labels"] == {"app": "web"}
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "GREETING", "value": "hello"}]
    (entry,) = doc["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "kubectl", "Apply", "apps/v1", "FieldsV1")
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert list(containers) == ['k:{"name":"web"}']
    assert containers['k:{"name":"web"}']["f:env"] == {'k:{"name":"GREETING"}': {".": {}, "f:name": {}, "f:value": {}}}
    hidden = yaml.safe_load((await kubectl("get", "deployment", "web", "-o", "yaml")).stdout)
    assert "managedFields" not in hidden["metadata"]  # kubectl hides them unless --show-managed-fields


async def test_conflict_with_another_manager_and_force_conflicts(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = _write(tmp_path, MANIFEST)
    await kubectl("apply", "--server-side", "-f", manifest)
    await kubectl("scale", "deployment", "web", "--replicas=5")
    await kubectl("patch", "deployment", "web", "--type", "merge",
                  "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"other:1"}]}}}}')
    doc = await _get(kubectl, "--show-managed-fields")
    managers = {(e["manager"], e["operation"], e.get("subresource")) for e in doc["metadata"]["managedFields"]}
    # kubectl scale sends no fieldManager: the manager is the user-agent's "kubectl", through /scale
    assert managers == {("kubectl", "Apply", None), ("kubectl", "Update", "scale"), ("kubectl-patch", "Update", None)}
    refused = await kubectl("apply", "--server-side", "-f", manifest, check=False)
    assert refused.returncode != 0
    assert (
        'Apply failed with 2 conflicts: conflicts with "kubectl" with subresource "scale" using apps/v1:\n'
        "- .spec.replicas\n"
        'conflicts with "kubectl-patch" using apps/v1:\n'
        '- .spec.template.spec.containers[name="web"].image'
    ) in refused.stderr, refused.stderr
    assert (await _get(kubectl))["spec"]["replicas"] == 5  # nothing written
    await kubectl("apply", "--server-side", "--force-conflicts", "-f", manifest)
    doc = await _get(kubectl, "--show-managed-fields")
    assert doc["spec"]["replicas"] == 2
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == "kubelite/demo:latest"
    entries = {(e["manager"], e["operation"]): e for e in doc["metadata"]["managedFields"]}
    assert ("kubectl", "Update") not in entries  # the /scale entry had only replicas: it is gone
    # kubectl-patch keeps only what it shares with the applier (the item's name), not the image
    assert '"f:image":' not in json.dumps(entries[("kubectl-patch", "Update")]["fieldsV1"])


async def test_other_field_managers_keep_what_they_own(kubectl: Kubectl, tmp_path: Path) -> None:
    await kubectl("apply", "--server-side", "-f", _write(tmp_path, MANIFEST))
    await kubectl("label", "deployment", "web", "owner=ops")
    await kubectl("apply", "--server-side", "--field-manager", "ci", "-f", _write(tmp_path, MANIFEST))
    smaller = MANIFEST.replace(", team: blue", "")
    await kubectl("apply", "--server-side", "-f", _write(tmp_path, smaller))
    labels = (await _get(kubectl))["metadata"]["labels"]
    assert labels == {"app": "web", "team": "blue", "owner": "ops"}  # "ci" still applies team: blue


async def test_strategic_merge_patch_like_kubernetes(kubectl: Kubectl, tmp_path: Path) -> None:
    await kubectl("apply", "-f", _write(tmp_path, MANIFEST))
    patch = {"spec": {"template": {"spec": {"containers": [{
        "name": "web",
        "ports": [{"containerPort": 9090, "name": "metrics"}],
        "env": [{"name": "COLOR", "value": "green"}, {"name": "NEW", "value": "1"}],
        "args": ["--verbose"],
    }]}}}}
    await kubectl("patch", "deployment", "web", "--type", "strategic", "-p", json.dumps(patch))
    spec = (await _get(kubectl))["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["web", "sidecar"]
    web = spec["containers"][0]
    assert [p["containerPort"] for p in web["ports"]] == [9090, 8080]  # kube puts unplaced new items first
    assert web["env"] == [{"name": "GREETING", "value": "hello"}, {"name": "COLOR", "value": "green"},
                          {"name": "NEW", "value": "1"}]
    delete = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"},
        {"name": "web", "env": [{"name": "GREETING", "$patch": "delete"}]}]}}}}
    await kubectl("patch", "deployment", "web", "--type", "strategic", "-p", json.dumps(delete))
    spec = (await _get(kubectl))["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["web"]
    assert [e["name"] for e in spec["containers"][0]["env"]] == ["COLOR", "NEW"]


async def test_applying_the_same_configuration_again_writes_nothing(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = _write(tmp_path, MANIFEST)
    await kubectl("apply", "--server-side", "-f", manifest)
    before = await _get(kubectl, "--show-managed-fields")
    again = await kubectl("apply", "--server-side", "-f", manifest)
    assert "serverside-applied" in again.stdout
    after = await _get(kubectl, "--show-managed-fields")
    assert after == before  # same resourceVersion, same managedFields time, as kube-apiserver
    # a PUT of the stored object (kubectl replace) that changes nothing stores nothing either
    await kubectl("replace", "-f", "-", stdin=json.dumps(after))
    assert (await _get(kubectl, "--show-managed-fields"))["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]


async def test_status_writes_are_owned_through_the_status_subresource(kubectl: Kubectl, tmp_path: Path) -> None:
    await kubectl("apply", "--server-side", "-f", _write(tmp_path, MANIFEST))
    await kubectl("patch", "deployment", "web", "--subresource=status", "--type=merge",
                  "-p", '{"status":{"observedGeneration":1,"replicas":2}}')
    doc = await _get(kubectl, "--show-managed-fields")
    assert doc["status"]["replicas"] == 2
    entries = {(e["manager"], e.get("subresource")): e for e in doc["metadata"]["managedFields"]}
    assert entries[("kubectl-patch", "status")]["fieldsV1"] == {
        "f:status": {"f:observedGeneration": {}, "f:replicas": {}}}
    assert "f:status" not in entries[("kubectl", None)]["fieldsV1"]
