"""The official ``kubernetes`` Python client against the gateway (run in threads: it is synchronous)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


pytestmark = pytest.mark.timeout(90)


def _pod(name: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "web"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="kubelite/demo:latest")]),
    )


async def test_create_list_patch_delete(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    created = await asyncio.to_thread(core.create_namespaced_pod, "default", _pod("web"))
    assert created.metadata.uid and created.status.phase == "Pending"
    listed = await asyncio.to_thread(core.list_namespaced_pod, "default", label_selector="app=web")
    assert [p.metadata.name for p in listed.items] == ["web"]
    patched = await asyncio.to_thread(core.patch_namespaced_pod, "web", "default", {"metadata": {"labels": {"v": "2"}}})
    assert patched.metadata.labels == {"app": "web", "v": "2"}
    await asyncio.to_thread(core.delete_namespaced_pod, "web", "default")
    with pytest.raises(ApiException) as missing:
        await asyncio.to_thread(core.read_namespaced_pod, "web", "default")
    assert missing.value.status == 404
    apps = client.AppsV1Api(k8s)
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "web"}),
                                              spec=_pod("x").spec)),
    )
    await asyncio.to_thread(apps.create_namespaced_deployment, "default", deployment)
    scale = await asyncio.to_thread(apps.patch_namespaced_deployment_scale, "web", "default", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    with pytest.raises(ApiException) as exists:
        await asyncio.to_thread(apps.create_namespaced_deployment, "default", deployment)
    assert exists.value.status == 409


def _watch(core: client.CoreV1Api, resource_version: str, count: int) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, "default", resource_version=resource_version, timeout_seconds=10):
        obj: Any = event["object"]
        seen.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
        if len(seen) == count:
            w.stop()
    return seen


async def test_watch_resumes_from_resource_version(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    start = (await asyncio.to_thread(core.list_namespaced_pod, "default")).metadata.resource_version
    for name in ("a", "b", "c"):
        await asyncio.to_thread(core.create_namespaced_pod, "default", _pod(name))
    first_two = await asyncio.to_thread(_watch, core, start, 2)
    assert [(t, n) for t, n, _ in first_two] == [("ADDED", "a"), ("ADDED", "b")]
    resumed = await asyncio.to_thread(_watch, core, first_two[-1][2], 1)
    assert [(t, n) for t, n, _ in resumed] == [("ADDED", "c")]


async def test_watch_from_an_ancient_resource_version_raises_410_and_a_relist_recovers(k8s: client.ApiClient) -> None:
    """The client's own handling of the gateway's ERROR event: ApiException 410, then the caller re-lists."""
    core = client.CoreV1Api(k8s)
    await asyncio.to_thread(core.create_namespaced_pod, "default", _pod("a"))
    with pytest.raises(ApiException) as expired:
        await asyncio.to_thread(_watch, core, "1", 1)
    assert expired.value.status == 410 and "too old resource version: 1" in str(expired.value.reason)
    listed = await asyncio.to_thread(core.list_namespaced_pod, "default")
    assert [p.metadata.name for p in listed.items] == ["a"]
    await asyncio.to_thread(core.create_namespaced_pod, "default", _pod("b"))
    resumed = await asyncio.to_thread(_watch, core, listed.metadata.resource_version, 1)
    assert [(t, n) for t, n, _ in resumed] == [("ADDED", "b")]
