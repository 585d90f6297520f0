"""A node's writes through the gateway (``--write-through-api``): the kubelet's trust boundary.

The kubelet writes only through kube-apiserver, as ``system:node:<name>``; RBAC's ``system:node`` role
and the NodeRestriction admission plugin then decide what it may change: its own Node, the status of
the pods bound to it, their deletion, Events. :class:`ApiWriteStore` is a :class:`Store` whose
``create``/``update``/``delete`` (and so ``guaranteed_update``) are requests to the gateway with the
node's credentials, so the same rules hold for kubelite's agents. Reads and watches stay on etcd (the
design: agents are driven by etcd watches), with an etcd identity that may read but not write
(kl up's etcd roles, docs/security.md).

One write stays on etcd: the node's Lease key, ``create(LEASES, ..., lease=<etcd lease>)`` and its
move to a new lease (agent/node.py). Node liveness is an etcd lease in this design, and the node's
etcd role may write that one key. An Event's ``lease`` is dropped: the gateway puts every Event on its
own TTL lease (kube-apiserver's ``--event-ttl``), so the recorder grants none here.

Errors: the gateway's Status as :class:`kubelite.api.errors.ApiError` (403 for what the node may not
do, 409, 404...); a gateway that cannot be reached is a 503 ``ApiError`` (ServiceUnavailable), which
every agent loop already treats as transient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import aiohttp

from kubelite.api import errors
from kubelite.api.core import Event
from kubelite.api.meta import KubeObject
from kubelite.api.resources import LEASES, Resource
from kubelite.etcd.client import EtcdClient
from kubelite.storage.store import Fence, Store, Subresource

from agent.apiclient import GatewayConnection

T = TypeVar("T", bound=KubeObject)


def collection_path(res: Resource[Any], namespace: str | None) -> str:
    """``/api/v1/namespaces/NS/pods`` / ``/apis/GROUP/VERSION/nodes``: the resource's REST collection."""
    root = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    return f"{root}/namespaces/{namespace}/{res.plural}" if res.namespaced else f"{root}/{res.plural}"


class ApiWriteStore(Store):
    """Reads from etcd through ``client``; writes through ``api`` (see the module)."""

    events_need_ttl_lease = False  # the gateway's own (no etcd lease granted here only to be dropped)

    def __init__(self, client: EtcdClient, api: GatewayConnection) -> None:
        super().__init__(client)
        self.api = api

    async def create(self, res: Resource[T], obj: T, *, lease: int = 0, fence: Fence | None = None,
                     dry_run: bool = False) -> T:
        if res is LEASES and lease:
            return await super().create(res, obj, lease=lease, fence=fence, dry_run=dry_run)  # the node's liveness key
        _no_fence(fence)
        namespace = obj.metadata.namespace if res.namespaced else None
        doc = await self._send(res, "POST", collection_path(res, namespace), obj.to_dict(), dry_run=dry_run)
        return res.model.model_validate(doc)

    async def create_events(self, events: Sequence[Event], *, lease: int = 0) -> list[bool]:
        """None in one etcd txn: the gateway creates Events one by one, so each is created alone (as the
        node, through :meth:`create`), as the recorder does with what a batch did not create."""
        return [False] * len(events)

    async def update(self, res: Resource[T], obj: T, *, subresource: Subresource = None, fence: Fence | None = None,
                     dry_run: bool = False, read: T | None = None) -> T:
        _no_fence(fence)
        path = f"{collection_path(res, obj.metadata.namespace if res.namespaced else None)}/{obj.metadata.name}"
        if subresource:
            path += f"/{subresource}"
        doc = await self._send(res, "PUT", path, obj.to_dict(), dry_run=dry_run)
        return res.model.model_validate(doc)

    async def delete(self, res: Resource[T], name: str, namespace: str | None = None, *,
                     resource_version: str | None = None, uid: str | None = None,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                     fence: Fence | None = None, dry_run: bool = False) -> tuple[T, bool]:
        """DeleteOptions as kube's; ``deleted_now`` is judged from the answer: an object left without a
        deletion mark, or marked with no grace and no finalizers, is gone."""
        _no_fence(fence)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        path = f"{collection_path(res, namespace if res.namespaced else None)}/{name}"
        doc = await self._send(res, "DELETE", path, options, dry_run=dry_run)
        if doc.get("kind") == "Status":  # some deletes answer with a Status of success, not the object
            return _gone(res, name, namespace), True
        obj = res.model.model_validate(doc)
        meta = obj.metadata
        gone = meta.deletion_timestamp is None or (not meta.finalizers and not meta.deletion_grace_period_seconds)
        return obj, gone

    async def _send(self, res: Resource[Any], method: str, path: str, body: dict[str, Any], *,
                    dry_run: bool) -> dict[str, Any]:
        params = {"dryRun": "All"} if dry_run else None
        try:
            answer = await self.api.request(method, path, body=body, params=params)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.unavailable(f"the gateway at {self.api.server} did not answer: "
                                     f"{type(exc).__name__}: {exc}") from None
        doc = answer.doc if isinstance(answer.doc, dict) else {}
        if 200 <= answer.status < 300:
            return doc
        if doc.get("kind") == "Status":
            raise errors.ApiError(errors.Status.model_validate(doc))
        raise errors.unavailable(f"{method} {path}: HTTP {answer.status} without a Status")

    async def close(self) -> None:
        await self.api.close()


def _gone(res: Resource[T], name: str, namespace: str | None) -> T:
    return res.model.model_validate({"apiVersion": res.api_version, "kind": res.kind,
                                     "metadata": {"name": name, "namespace": namespace}})


def _no_fence(fence: Fence | None) -> None:
    if fence is not None:  # fences are the controllers' leader election: no agent write has one
        raise ValueError("a fenced write cannot go through the API")
