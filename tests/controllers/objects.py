"""Objects and queries for controller tests."""

from __future__ import annotations

from typing import Any

from kubelite.api.apps import Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec
from kubelite.api.apps import RollingUpdateDeployment
from kubelite.api.core import (
    Container, LabelSelector, Node, NodeCondition, Pod, PodSpec, PodTemplateSpec, ResourceRequirements, Toleration,
)
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NODES, PODS
from kubelite.storage.store import Store


def template(app: str, *, image: str = "demo:1", cpu: str | None = None, memory: str | None = None,
             tolerations: list[Toleration] | None = None, node_selector: dict[str, str] | None = None,
             grace: int | None = 1, annotations: dict[str, str] | None = None) -> PodTemplateSpec:
    requests: dict[str, Any] = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    container = Container(name="app", image=image,
                          resources=ResourceRequirements(requests=requests) if requests else None)
    return PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": app}, annotations=annotations),
        spec=PodSpec(containers=[container], tolerations=tolerations, node_selector=node_selector,
                     termination_grace_period_seconds=grace),
    )


def replicaset(name: str, replicas: int, **kwargs: Any) -> ReplicaSet:
    return ReplicaSet(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ReplicaSetSpec(replicas=replicas, selector=LabelSelector(match_labels={"app": name}),
                            template=template(name, **kwargs)),
    )


def deployment(name: str, replicas: int, *, strategy: str | None = None, max_surge: Any = None,
               max_unavailable: Any = None, progress_deadline: int | None = None,
               history: int | None = None, **kwargs: Any) -> Deployment:
    rolling = None
    if max_surge is not None or max_unavailable is not None:
        rolling = RollingUpdateDeployment(max_surge=max_surge, max_unavailable=max_unavailable)
    return Deployment(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas, selector=LabelSelector(match_labels={"app": name}), template=template(name, **kwargs),
            strategy=DeploymentStrategy(type=strategy, rolling_update=rolling) if strategy or rolling else None,
            progress_deadline_seconds=progress_deadline, revision_history_limit=history,
        ),
    )


def bare_pod(name: str, *, cpu: str | None = None, node_selector: dict[str, str] | None = None,
             tolerations: list[Toleration] | None = None, labels: dict[str, str] | None = None,
             host_port: int | None = None) -> Pod:
    from kubelite.api.core import ContainerPort
    requests = {"cpu": cpu} if cpu else None
    ports = [ContainerPort(container_port=80, host_port=host_port)] if host_port else None
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", labels=labels),
        spec=PodSpec(containers=[Container(name="c", image="demo:1", ports=ports,
                                           resources=ResourceRequirements(requests=requests) if requests else None)],
                     node_selector=node_selector, tolerations=tolerations, termination_grace_period_seconds=1),
    )


async def pods(store: Store, app: str | None = None, *, active_only: bool = True) -> list[Pod]:
    items = (await store.list(PODS, "default")).items
    if app is not None:
        items = [p for p in items if (p.metadata.labels or {}).get("app") == app]
    if active_only:
        items = [p for p in items if p.metadata.deletion_timestamp is None and not p.is_terminated()]
    return items


async def running_ready(store: Store, app: str) -> list[Pod]:
    return [p for p in await pods(store, app) if p.phase == "Running" and p.is_ready()]


async def delete_now(store: Store, name: str, namespace: str = "default") -> None:
    """Delete a pod at once, retrying while a kubelet's status write races it (409)."""
    from kubelite.api import errors

    async def attempt() -> bool:
        try:
            await store.delete(PODS, name, namespace, grace_period_seconds=0)
        except errors.ApiError as exc:
            if exc.code == 404:
                return True
            raise
        return True

    from tests.helpers import wait_for
    await wait_for(attempt, 10, ignore=(errors.ApiError,))


async def delete_retrying(store: Store, res: Any, name: str, namespace: str = "default", **kwargs: Any) -> Any:
    """store.delete, retried while a controller's concurrent write makes it conflict (409)."""
    from kubelite.api import errors
    from tests.helpers import wait_for

    async def attempt() -> Any:
        try:
            return await store.delete(res, name, namespace, **kwargs)
        except errors.ApiError as exc:
            if exc.code == 409:
                return None
            raise

    return await wait_for(attempt, 10)


async def report_condition(store: Store, node: str, condition: str, status: str) -> None:
    """The node's agent reports ``condition`` (e.g. DiskPressure) with ``status`` in its Node's status."""
    def mutate(current: Node) -> Node:
        assert current.status is not None
        others = [c for c in current.status.conditions or [] if c.type != condition]
        current.status.conditions = [*others, NodeCondition(type=condition, status=status)]
        return current
    await store.guaranteed_update(NODES, node, None, mutate, subresource="status")
