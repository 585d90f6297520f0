"""Services and their pods on a Store, written as the API and a kubelet write them (the pod created,
then its podIP and Ready condition through the status subresource): what the EndpointSlice and
Endpoints controllers' unit tests start from."""

from __future__ import annotations

from typing import Any

from kubelite.api.core import Pod
from kubelite.api.resources import PODS, SERVICES
from kubelite.storage.store import Store
from tests.controllers.unit.kubelet import set_pod_status


async def add_service(store: Store, name: str = "web", **spec: Any) -> Any:
    """A Service selecting ``app=<name>``, port 80 → the pods' port named ``web`` (override with ``spec``)."""
    spec.setdefault("selector", {"app": name})
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "web"}])
    return await store.create(SERVICES, SERVICES.model.model_validate({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}))


async def add_pod(store: Store, name: str, ip: str | None, *, ready: bool = True, app: str = "web",
                  port: int = 8080, node: str = "node-1") -> Pod:
    """A pod bound to ``node`` whose container port ``web`` is ``port``; Running with ``ip`` (None: no IP yet)."""
    created = await store.create(PODS, Pod.model_validate({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x",
                                                   "ports": [{"name": "web", "containerPort": port}]}]}}))
    return await set_status(store, created.name, ready=ready, ip=ip)


async def set_status(store: Store, name: str, *, ready: bool, ip: str | None = None) -> Pod:
    """The pod's status as its kubelet reports it: Running, ``ip`` (None keeps the current one), Ready."""
    return await set_pod_status(store, await store.get(PODS, name, "default"), phase="Running", ready=ready, ip=ip)


async def relabel(store: Store, name: str, app: str) -> None:
    def change(pod: Pod) -> Pod:
        pod.metadata.labels = {"app": app}
        return pod
    await store.guaranteed_update(PODS, name, "default", change)
