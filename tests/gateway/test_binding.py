"""``pods/binding`` (v1 Binding), what schedulers call: through the official Python client, the
node and PodScheduled=True in one write, annotations merged, and kube's refusals (already
assigned, being deleted, a stale uid, a bad target) with nothing written."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubelite.api.core import Pod
from kubelite.api.resources import PODS
from kubelite.gateway import Gateway
from kubelite.storage.store import Store
from tests.gateway.conftest import etcd_revision

pytestmark = pytest.mark.timeout(60)


def unbound(name: str) -> Pod:
    return Pod.model_validate({"metadata": {"name": name, "namespace": "default", "finalizers": ["example.com/hold"]},
                               "spec": {"containers": [{"name": "c", "image": "demo:1"}]}})


def binding(name: str, node: str | None, *, kind: str = "Node", uid: str | None = None,
            annotations: dict[str, str] | None = None) -> client.V1Binding:
    # the client's V1Binding insists on a target; the raw dict below sends what it cannot
    return client.V1Binding(metadata=client.V1ObjectMeta(name=name, uid=uid, annotations=annotations),
                            target=client.V1ObjectReference(kind=kind, name=node))


def create_binding(k8s: client.ApiClient, name: str, body: object) -> tuple[int, dict[str, object]]:
    """POST the binding; (status, body). The client cannot decode kube's answer (a Status, not a
    Binding), so the raw answer is read, as its users do."""
    try:
        response = client.CoreV1Api(k8s).create_namespaced_pod_binding(name, "default", body, _preload_content=False)
    except ApiException as exc:
        return exc.status, json.loads(exc.body)
    return response.status, json.loads(response.data)


async def test_binding_assigns_once_with_kube_refusals(gateway: Gateway, store: Store, k8s: client.ApiClient) -> None:
    created = await store.create(PODS, unbound("web"))
    status, body = await asyncio.to_thread(create_binding, k8s, "web",
                                           binding("web", "n1", annotations={"example.com/by": "me"}))
    assert (status, body["status"], body["code"]) == (201, "Success", 201)
    pod = await store.get(PODS, "web", "default")
    scheduled = pod.status.condition("PodScheduled") if pod.status else None
    assert pod.spec.node_name == "n1" and scheduled is not None and scheduled.status == "True"
    assert (pod.metadata.annotations or {})["example.com/by"] == "me" and pod.metadata.uid == created.metadata.uid

    status, body = await asyncio.to_thread(create_binding, k8s, "web", binding("web", "n2"))
    assert (status, body["reason"]) == (409, "Conflict") and 'pod web is already assigned to node "n1"' in body["message"]

    await store.create(PODS, unbound("other"))
    before = await etcd_revision(gateway)
    status, body = await asyncio.to_thread(create_binding, k8s, "other", binding("other", "n1", uid="not-its-uid"))
    assert status == 409 and "Precondition failed: UID in precondition: not-its-uid" in body["message"]
    status, body = await asyncio.to_thread(create_binding, k8s, "other", binding("other", "n1", kind="Pod"))
    assert (status, body["reason"]) == (422, "Invalid")
    assert [c["field"] for c in body["details"]["causes"]] == ["target.kind"]
    status, body = await asyncio.to_thread(create_binding, k8s, "other", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "other"}, "target": {"kind": "Node"}})
    assert status == 422 and [c["field"] for c in body["details"]["causes"]] == ["target.name"]
    status, body = await asyncio.to_thread(create_binding, k8s, "nope", binding("nope", "n1"))
    assert (status, body["reason"]) == (404, "NotFound")
    assert await etcd_revision(gateway) == before  # no refusal wrote anything

    await store.delete(PODS, "other", "default")  # its finalizer keeps it, being deleted
    status, body = await asyncio.to_thread(create_binding, k8s, "other", binding("other", "n1"))
    assert status == 409 and "pod other is being deleted, cannot be assigned to a host" in body["message"]
    assert not (await store.get(PODS, "other", "default")).spec.node_name
