"""The local APIServices: one ``apiregistration.k8s.io/v1`` APIService per group version the gateway
serves, as kube-apiserver keeps them (``kubectl get apiservices``: ``v1.apps  Local  True``).

kube-apiserver runs two controllers in every server for this: the autoregister controller (built-in
group versions, labelled ``kube-aggregator.kubernetes.io/automanaged: onstart``) and the CRD
registration controller (each served version of each CRD, labelled ``automanaged: "true"``,
removed when the CRD no longer serves it). :class:`LocalAPIServices` is both: at start, after a CRD
write through this gateway (within the request), whenever this gateway's
:class:`~kubelite.gateway.crds.CrdRegistry` sees a change (reading the CRDs from etcd), and every
``interval`` seconds as a safety net, it makes the stored automanaged APIServices equal the wanted
set (:func:`plan`, pure). Several gateways doing it at once converge: creates that lose are
AlreadyExists, updates and deletes carry the resourceVersion they read. APIServices users create
(without the label) are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubelite.api import errors
from kubelite.api.apiservice import AUTOMANAGED, local_apiservice
from kubelite.api.crd import served_versions
from kubelite.api.resources import APISERVICES, CUSTOMRESOURCEDEFINITIONS
from kubelite.gateway import metrics_group, review_group
from kubelite.gateway.catalog import VIEWS, group_versions
from kubelite.storage.store import Store
from kubelite.util.supervise import BackgroundTask

log = logging.getLogger(__name__)

INTERVAL = 60.0  # seconds between safety-net reconciles (changes of CRDs wake it at once)
Doc = dict[str, Any]


@dataclass
class Plan:
    create: list[Doc] = field(default_factory=list)
    update: list[Doc] = field(default_factory=list)  # stored documents with the wanted spec and labels
    delete: list[Doc] = field(default_factory=list)  # stored documents


def builtin_group_versions() -> list[tuple[str, str]]:
    """Every built-in group version the gateway serves: stored kinds, views, metrics, reviews."""
    return [*group_versions(), *((v.group, v.version) for v in VIEWS), (metrics_group.GROUP, metrics_group.VERSION),
            *((g, review_group.VERSION) for g in review_group.GROUPS)]


def wanted_apiservices(builtin: Iterable[tuple[str, str]], custom: Iterable[tuple[str, str]]) -> dict[str, Doc]:
    """name → APIService for the built-in and the CRDs' (group, version) pairs; a CRD version of a
    built-in group version does not get its own (kube serves the built-in one)."""
    wanted = {doc["metadata"]["name"]: doc for doc in (local_apiservice(g, v) for g, v in builtin)}
    for group, version in custom:
        doc = local_apiservice(group, version, crd=True)
        wanted.setdefault(doc["metadata"]["name"], doc)
    return wanted


def plan(wanted: dict[str, Doc], stored: Iterable[Doc]) -> Plan:
    """What to write so the automanaged stored APIServices are ``wanted``; others are left alone."""
    result = Plan()
    seen: set[str] = set()
    for doc in stored:
        meta = doc.get("metadata") or {}
        name = meta.get("name") or ""
        seen.add(name)
        want = wanted.get(name)
        managed = (meta.get("labels") or {}).get(AUTOMANAGED)
        if want is None:
            if managed is not None:
                result.delete.append(doc)
            continue
        if managed is None:  # a user's own APIService of that name wins, as in kube
            continue
        labels = {**(meta.get("labels") or {}), **want["metadata"]["labels"]}
        if doc.get("spec") != want["spec"] or labels != meta.get("labels"):
            result.update.append({**doc, "metadata": {**meta, "labels": labels}, "spec": want["spec"]})
    result.create = [doc for name, doc in sorted(wanted.items()) if name not in seen]
    return result


def crd_group_versions(crds: Iterable[Doc]) -> list[tuple[str, str]]:
    """The (group, version) pairs the established CRDs serve."""
    return sorted({(v.group, v.version) for doc in crds for v in served_versions(doc)})


class LocalAPIServices:
    """start() / stop(). ``builtin``: the gateway's own group versions."""

    def __init__(self, store: Store, *, builtin: list[tuple[str, str]], interval: float = INTERVAL) -> None:
        self.store = store
        self.builtin = builtin
        self.interval = interval
        self._changed = asyncio.Event()
        self._task = BackgroundTask()

    def changed(self) -> None:
        """The CRDs changed: reconcile soon (called from the CRD registry's informer handlers)."""
        self._changed.set()

    async def start(self) -> None:
        await self.reconcile()
        self._task.start("local-apiservices", self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.interval)
            self._changed.clear()
            try:
                await self.reconcile()
            except errors.ApiError as exc:  # etcd trouble or a race with another gateway: the next round retries
                log.warning("local APIServices not reconciled: %s", exc)

    async def reconcile(self) -> None:
        # the CRDs read from etcd, not the gateway's CRD informer: a lagging cache would drop and
        # re-create a new CRD's APIServices
        crds = (await self.store.list(CUSTOMRESOURCEDEFINITIONS, as_documents=True)).items
        stored = (await self.store.list(APISERVICES, as_documents=True)).items
        todo = plan(wanted_apiservices(self.builtin, crd_group_versions(crds)), stored)
        model = APISERVICES.model
        for doc in todo.create:
            with contextlib.suppress(errors.ApiError):  # AlreadyExists: another gateway was first
                await self.store.create(APISERVICES, model.model_validate(doc))
        for doc in todo.update:
            with contextlib.suppress(errors.ApiError):  # Conflict: the next round sees the newer one
                await self.store.update(APISERVICES, model.model_validate(doc))
        for doc in todo.delete:
            meta = doc["metadata"]
            with contextlib.suppress(errors.ApiError):
                await self.store.delete(APISERVICES, meta["name"], resource_version=meta["resourceVersion"])
