"""A tiny operator: each WebApp (crd.yaml) runs as a Deployment; its status reports the ready replicas.

The sample-controller shape, on kubelite's client machinery (:mod:`kubelite.client.workqueue`,
:mod:`kubelite.client.reconcile`) and talking to the gateway over HTTP (aiohttp), as any operator talks to
an API server:

- list + watch ``webapps`` and the Deployments it owns (label ``demo.kubelite.io/webapp``), each
  event enqueues the WebApp's ``namespace/name``;
- ``reconcile(key)`` is idempotent: the Deployment the WebApp wants (:func:`desired_deployment`,
  pure) is server-side applied (field manager ``webapp-operator``), then the WebApp's
  ``status.readyReplicas`` is set from the Deployment's status through the ``status`` subresource;
  a WebApp that is gone takes its Deployment with it.

Run it against a cluster (``kl up``, then ``kubectl apply -f crd.yaml -f webapp.yaml``)::

    python examples/operator/webapp_operator.py --server http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from kubelite.client.reconcile import ReconcileLoop, Result
from kubelite.util.supervise import cancel_and_wait, spawn
from kubelite.client.workqueue import WorkQueue

log = logging.getLogger("webapp-operator")

GROUP, VERSION, PLURAL, KIND = "demo.kubelite.io", "v1", "webapps", "WebApp"
OWNER_LABEL = "demo.kubelite.io/webapp"
MANAGER = "webapp-operator"
WEBAPPS = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
DEPLOYMENTS = "/apis/apps/v1/deployments"
Doc = dict[str, Any]


def desired_deployment(webapp: Doc) -> Doc:
    """The Deployment a WebApp wants (pure: the whole decision of this operator)."""
    meta, spec = webapp["metadata"], webapp.get("spec") or {}
    labels = {OWNER_LABEL: meta["name"]}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "labels": labels,
            "ownerReferences": [{"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "replicas": spec.get("replicas", 1),
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": spec["image"],
                                         "ports": [{"containerPort": spec.get("port", 8080)}]}]},
            },
        },
    }


def wanted_status(webapp: Doc, deployment: Doc) -> Doc:
    return {**(webapp.get("status") or {}), "deployment": deployment["metadata"]["name"],
            "readyReplicas": (deployment.get("status") or {}).get("readyReplicas", 0)}


class Operator:
    def __init__(self, server: str, *, workers: int = 2) -> None:
        self.server = server.rstrip("/")
        self.queue = WorkQueue("webapps")
        self.loop = ReconcileLoop("webapps", self.queue, self.reconcile, workers=workers)
        self._session: aiohttp.ClientSession | None = None
        self._watches: list[asyncio.Task[None]] = []

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "start() first"
        return self._session

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(self.server, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        self._watches = [
            spawn("watch webapps", lambda: self._list_watch(WEBAPPS, "", _own_key)),
            spawn("watch deployments", lambda: self._list_watch(DEPLOYMENTS, OWNER_LABEL, _owner_key)),
        ]
        await self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        for task in self._watches:
            await cancel_and_wait(task)
        if self._session is not None:
            await self._session.close()

    async def _list_watch(self, path: str, selector: str, key_of: Callable[[Doc], str | None]) -> None:
        """List, enqueue everything, watch from the list's resourceVersion; re-list on 410 or a closed
        stream (supervised by :func:`kubelite.util.supervise.spawn`: an error restarts it)."""
        while True:
            params = {"labelSelector": selector} if selector else {}
            async with self.session.get(path, params=params) as response:
                response.raise_for_status()
                listed = await response.json()
            for item in listed["items"]:
                self._enqueue(key_of(item))
            params.update(watch="1", resourceVersion=listed["metadata"]["resourceVersion"], allowWatchBookmarks="true")
            async with self.session.get(path, params=params) as stream:
                stream.raise_for_status()
                async for line in stream.content:
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        break  # 410 Gone: re-list
                    if event["type"] != "BOOKMARK":
                        self._enqueue(key_of(event["object"]))

    def _enqueue(self, key: str | None) -> None:
        if key:
            self.queue.add(key)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = key.split("/", 1)
        deployment_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        async with self.session.get(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}") as response:
            if response.status == 404:
                await self._delete_owned(deployment_path, name)
                return None
            response.raise_for_status()
            webapp = await response.json()
        async with self.session.patch(deployment_path, params={"fieldManager": MANAGER, "force": "true"},
                                      data=json.dumps(desired_deployment(webapp)),
                                      headers={"Content-Type": "application/apply-patch+yaml"}) as response:
            response.raise_for_status()
            deployment = await response.json()
        status = wanted_status(webapp, deployment)
        if status != webapp.get("status"):
            patch = {"metadata": {"resourceVersion": webapp["metadata"]["resourceVersion"]}, "status": status}
            async with self.session.patch(f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status",
                                          data=json.dumps(patch),
                                          headers={"Content-Type": "application/merge-patch+json"}) as response:
                if response.status == 409:
                    return Result(requeue_after=0.1)  # changed meanwhile: the watch brings the new one
                response.raise_for_status()
        return None

    async def _delete_owned(self, path: str, name: str) -> None:
        async with self.session.get(path) as response:
            if response.status == 404:
                return
            response.raise_for_status()
            labels = (await response.json())["metadata"].get("labels") or {}
        if labels.get(OWNER_LABEL) == name:  # only what this operator made
            async with self.session.delete(path) as response:
                if response.status not in (200, 202, 404):
                    response.raise_for_status()


def _own_key(obj: Doc) -> str:
    return f'{obj["metadata"]["namespace"]}/{obj["metadata"]["name"]}'


def _owner_key(obj: Doc) -> str | None:
    owner = (obj["metadata"].get("labels") or {}).get(OWNER_LABEL)
    return f'{obj["metadata"]["namespace"]}/{owner}' if owner else None


async def main() -> None:
    parser = argparse.ArgumentParser(description="WebApp operator (examples/operator)")
    parser.add_argument("--server", default="http://127.0.0.1:8080", help="the kubelite gateway")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    operator = Operator(args.server)
    await operator.start()
    try:
        await asyncio.Event().wait()
    finally:
        await operator.stop()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
