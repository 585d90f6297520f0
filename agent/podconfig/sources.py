"""ConfigMaps, Secrets and Services as the agent sees them: three watch-driven informers (the
kubelet's watch-based ConfigMap/Secret managers, and its Service lister for the service
environment variables of :mod:`agent.service_env` — its own, as the kubelet's is beside kube-proxy's).

One :class:`ConfigSource` serves one agent, or every simulated agent of a process (started
once). Lookups read the informers' caches; a change calls the subscribers with
``(kind, namespace, name)`` so pods that use the object are re-synced at once (a missing
source recovers without waiting for a resync; volume files follow updates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.api.resources import CONFIGMAPS, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, SECRETS, SERVICES
from kubelite.client.informer import Informer
from kubelite.storage.store import Store

from agent.podconfig.apisecrets import ApiSecrets
from agent.podconfig.env import Sources
from agent.podconfig.projection import VolumeError
from agent.podconfig.refs import pod_refs

Subscriber = Callable[[str, str, str], None]  # (kind "configmap"|"secret", namespace, name)


class _Notify:
    def __init__(self, kind: str, subscribers: list[Subscriber]) -> None:
        self.kind = kind
        self.subscribers = subscribers

    def _fire(self, obj: Any) -> None:
        for subscriber in list(self.subscribers):
            subscriber(self.kind, obj.metadata.namespace or "", obj.metadata.name or "")

    def on_add(self, obj: Any) -> None:
        self._fire(obj)

    def on_update(self, old: Any, new: Any) -> None:
        if old is new:
            return  # the informer's resync replays its cache: the pods' own resync covers them
        self._fire(new)

    def on_delete(self, obj: Any) -> None:
        self._fire(obj)


class ConfigSource:
    """start()/stop(); ``sources`` gives the lookups the pure resolvers take."""

    def __init__(self, store: Store, *, resync_period: float = 300.0, secrets_api: ApiSecrets | None = None) -> None:
        """``secrets_api``: Secrets come from the gateway as the node (:mod:`agent.podconfig.apisecrets`),
        not from an etcd watch of every Secret."""
        self.store = store
        self._subscribers: list[Subscriber] = []
        self.config_maps = Informer(store, CONFIGMAPS, resync_period=resync_period)
        self.secrets_api = secrets_api
        self.services = Informer(store, SERVICES, resync_period=resync_period)
        self.config_maps.add_handler(_Notify("configmap", self._subscribers))
        self.secrets: Informer[Any] | None = None
        secret: Callable[[str, str], Mapping[str, Any] | None]
        if secrets_api is None:
            self.secrets = Informer(store, SECRETS, resync_period=resync_period)
            self.secrets.add_handler(_Notify("secret", self._subscribers))
            secret = self._lookup(self.secrets)
        else:
            secret = secrets_api.lookup
        self.sources = Sources(config_map=self._lookup(self.config_maps), secret=secret)

    async def prefetch(self, pod: Pod) -> None:
        """Before a pod's volumes and containers are made: fetch the Secrets it uses when they come
        from the gateway (a no-op when an informer holds them all)."""
        if self.secrets_api is not None:
            await self.secrets_api.prefetch(pod.namespace or "", sorted(n for k, n in pod_refs(pod) if k == "secret"))

    @staticmethod
    def _lookup(informer: Informer) -> Callable[[str, str], Mapping[str, Any] | None]:
        def get(namespace: str, name: str) -> Mapping[str, Any] | None:
            obj = informer.get(f"{namespace}/{name}")
            return None if obj is None else (obj.model_extra or {})
        return get

    async def claim_path(self, namespace: str, claim: str) -> str:
        """The host directory of a claim's bound PersistentVolume (``hostPath`` or ``local``, as the
        local-path provisioner writes them); VolumeError while the claim is missing or unbound. Read
        from etcd (two point reads), only for pods that use a claim."""
        try:
            pvc = (await self.store.get(PERSISTENTVOLUMECLAIMS, claim, namespace)).to_dict()
        except errors.ApiError as exc:
            if exc.code == 404:
                raise VolumeError(f'persistentvolumeclaim "{claim}" not found') from None
            raise
        volume = (pvc.get("spec") or {}).get("volumeName")
        if not volume:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound yet')
        try:
            pv = (await self.store.get(PERSISTENTVOLUMES, volume)).to_dict()
        except errors.ApiError as exc:
            if exc.code == 404:
                raise VolumeError(f'persistentvolume "{volume}" not found') from None
            raise
        spec = pv.get("spec") or {}
        path = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        if not path:
            raise VolumeError(f'persistentvolume "{volume}" is not a node-local directory (hostPath or local)')
        return str(path)

    def service_documents(self) -> list[dict[str, Any]]:
        """Every Service known now, as documents (what :func:`agent.service_env.service_env` reads)."""
        return [service.to_dict() for service in self.services.list()]

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def _informers(self) -> list[Informer[Any]]:
        return [i for i in (self.config_maps, self.secrets, self.services) if i is not None]

    async def start(self) -> None:
        for informer in self._informers():
            await informer.start()
        for informer in self._informers():
            await informer.wait_synced(timeout=None)

    async def stop(self) -> None:
        for informer in reversed(self._informers()):
            await informer.stop()
