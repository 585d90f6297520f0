"""Custom resources: what the established CustomResourceDefinitions make this gateway serve.

:class:`CrdRegistry` keeps the served versions of every CRD in etcd, watch-driven (an
:class:`~kubelite.informer.Informer` on ``customresourcedefinitions``), and re-reads etcd on a miss
or after a CRD write through this gateway, so ``kubectl apply -f crd.yaml`` followed by a custom
resource never races the watch (gateways are stateless; each keeps its own registry).

Routing (:func:`kubelite.gateway.common.resolve`), discovery and the verb handlers read it; a
custom resource's :class:`~kubelite.gateway.catalog.Served` carries its :class:`CustomVersion`, which
the write path (:func:`check_custom`), tables (:func:`printer`) and the scale subresource use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from kubelite.api import celrules, crschema, errors
from kubelite.api.crd import CustomVersion, resource_of, served_versions, storage_resource
from kubelite.api.generic import without_nulls
from kubelite.api.parse import causes_from_validation_error
from kubelite.api.resources import CUSTOMRESOURCEDEFINITIONS
from kubelite.etcd_ops import op_delete_range, prefix_end, txn
from kubelite.gateway.bodies import CheckedObject
from kubelite.gateway.catalog import SCALE, STATUS, Served, Subresource
from kubelite.gateway.common import Target
from kubelite.gateway.options import parse_list_options
from kubelite.gateway.state import state_of
from kubelite.printers import PRINTERS, Column, Doc, Printer
from kubelite.humanize import human_duration, parse_time
from kubelite.informer import FuncHandler, Informer
from kubelite.store import Store

log = logging.getLogger(__name__)

_SYNC_TIMEOUT = 10.0  # seconds the gateway's start waits for the first list of CRDs


def served_for(version: CustomVersion) -> Served:
    """The catalog entry of one served version of a CRD."""
    res = resource_of(version)
    subresources: tuple[Subresource, ...] = ((STATUS,) if version.status else ()) + ((SCALE,) if version.scale else ())
    return Served(res, subresources, categories=version.categories, custom=version)


class CrdRegistry:
    """The custom resources served now: ``(group, version, plural)`` → Served."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._informer = Informer(store, CUSTOMRESOURCEDEFINITIONS, resync_period=300.0)
        self._served: dict[tuple[str, str, str], Served] = {}
        self._by_crd: dict[str, tuple[str | None, list[Served]]] = {}  # name → (resourceVersion, entries)
        self._refresh_lock = asyncio.Lock()
        # told when the served resources change (kubelite.gateway.apiservices)
        self.on_change: Callable[[], None] | None = None

    async def start(self) -> None:
        self._informer.add_handler(FuncHandler(add=lambda _obj: self._rebuild(),
                                               update=lambda _old, _new: self._rebuild(),
                                               delete=lambda _obj: self._rebuild()))
        await self._informer.start()
        try:
            await self._informer.wait_synced(_SYNC_TIMEOUT)
        except TimeoutError:
            log.warning("CRDs not listed within %.0f s; serving them once the informer syncs", _SYNC_TIMEOUT)

    async def stop(self) -> None:
        await self._informer.stop()

    def _rebuild(self, crds: Sequence[Any] | None = None) -> None:
        docs = [c.to_dict() for c in (self._informer.list() if crds is None else crds)]
        by_crd: dict[str, tuple[str | None, list[Served]]] = {}
        for doc in docs:
            meta = doc.get("metadata") or {}
            name, rv = meta.get("name") or "", meta.get("resourceVersion")
            known = self._by_crd.get(name)
            # the same stored CRD keeps its entries (and their models): watch hubs hold them
            by_crd[name] = known if known and known[0] == rv else (rv, [served_for(v) for v in served_versions(doc)])
        self._by_crd = by_crd
        before = set(self._served)
        self._served = {(s.resource.group, s.resource.version, s.resource.plural): s
                        for _rv, entries in by_crd.values() for s in entries}
        if self.on_change is not None and set(self._served) != before:
            self.on_change()

    async def refresh(self) -> None:
        """Re-read the CRDs from etcd now (after a CRD write, or on a request for an unknown resource)."""
        async with self._refresh_lock:
            result = await self._store.list(CUSTOMRESOURCEDEFINITIONS)
            self._rebuild(result.items)

    def lookup(self, group: str, version: str, plural: str) -> Served | None:
        return self._served.get((group, version, plural))

    def served(self) -> list[Served]:
        """Every served custom resource version, ordered by group, then version and plural."""
        return [self._served[k] for k in sorted(self._served)]

    def preferred(self, group: str) -> str | None:
        """The group's storage version if served, else its first served version."""
        entries = [s for s in self._served.values() if s.resource.group == group and s.custom]
        storage = next((s.resource.version for s in entries if s.custom and s.custom.storage), None)
        return storage or (sorted(s.resource.version for s in entries)[0] if entries else None)


async def delete_custom_resources(store: Store, crd_doc: dict[str, Any]) -> int:
    """Delete every custom resource of a CRD (before the CRD itself: a crash between leaves the CRD,
    and the delete can be retried). Returns how many keys went."""
    res = storage_resource(crd_doc)
    if res is None:
        return 0
    prefix = res.prefix()
    response = await txn(store.client, [], [op_delete_range(prefix, prefix_end(prefix))], [], what=f"delete {prefix}")
    return int(response.responses[0].response_delete_range.deleted)


# -- writes ----------------------------------------------------------------------------------

def check_custom(doc: Any, served: Served, validation: str) -> CheckedObject:
    """Prune (Strict: 400, Warn: warnings), default and validate a custom resource; 422 naming fields."""
    version = served.custom
    assert version is not None
    if not isinstance(doc, dict):
        raise errors.bad_request(f"the object must be a JSON object, not {type(doc).__name__}")
    pruned, dropped = crschema.prune(doc, version.schema)
    warnings: list[str] = []
    if dropped and validation == "Strict":
        listed = ", ".join(f'unknown field "{path}"' for path in dropped)
        raise errors.bad_request(f'{version.kind} in version "{version.version}" cannot be handled as a '
                                 f"{version.kind}: strict decoding error: {listed}")
    if dropped and validation == "Warn":
        warnings = [f'unknown field "{path}"' for path in dropped]
    defaulted = crschema.apply_defaults(pruned, version.schema)
    name = str((defaulted.get("metadata") or {}).get("name") or "")
    causes = crschema.validate(defaulted, version.schema)
    causes = causes or celrules.rule_causes(version.schema, defaulted)  # CEL rules see only schema-valid values
    if causes:
        raise errors.invalid(version.kind, name, causes, group=version.group)
    try:
        obj = served.resource.model.model_validate(without_nulls(defaulted))
    except ValidationError as exc:
        raise errors.invalid(version.kind, name, causes_from_validation_error(exc, defaulted),
                             group=version.group) from exc
    return CheckedObject(obj, warnings)


def transition_causes(served: Served, new: dict[str, Any], old: dict[str, Any]) -> list[Any]:
    """The CEL transition rules (``oldSelf``) an update of a custom resource breaks (422 causes)."""
    assert served.custom is not None
    return celrules.rule_causes(served.custom.schema, new, old, transitions=True)


# -- tables ----------------------------------------------------------------------------------

def _lookup(doc: Any, json_path: str) -> Any:
    """A printer column's value: simple JSONPath (``.spec.replicas``, ``.status.items[0].name``).
    Filters are not evaluated (the cell is empty), as for a path that finds nothing."""
    node = doc
    for part in json_path.strip().lstrip("{").rstrip("}").lstrip(".").replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            inner = part[1:-1]
            if not inner.lstrip("-").isdigit() or not isinstance(node, list):
                return None
            index = int(inner)
            node = node[index] if -len(node) <= index < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def table_printer(served: Served) -> Printer | None:
    """The printer of a custom resource's Table, or of a resource served in another shape (the stored
    kind's printer on the stored shape: kube prints events.k8s.io Events as core ones); None: the
    kind's own (:data:`tables.PRINTERS`)."""
    if served.custom is not None:
        return printer(served.custom)
    conversion = served.resource.conversion
    if conversion is None or served.resource.kind not in PRINTERS:
        return None
    columns, row_of = PRINTERS[served.resource.kind]
    return columns, lambda doc, now: row_of(conversion.to_stored(doc), now)


def printer(version: CustomVersion) -> Printer:
    """Columns and row function of a CRD version's ``additionalPrinterColumns`` (Name first, as kube's
    table convertor does; a ``date`` column is shown as an age)."""
    columns = (Column("Name", format="name", description="Name must be unique within a namespace."),
               *(Column(c.name, type=c.type, format=c.format, description=c.description, priority=c.priority)
                 for c in version.columns))

    def row(doc: Doc, now: datetime) -> list[Any]:
        cells: list[Any] = [(doc.get("metadata") or {}).get("name", "")]
        for column in version.columns:
            value = _lookup(doc, column.json_path)
            if column.type == "date" and isinstance(value, str):
                when = parse_time(value)
                value = human_duration((now - when).total_seconds()) if when else value
            elif isinstance(value, (dict, list)):
                value = str(value)
            cells.append(value)
        return cells

    return columns, row


async def delete_custom_resources_of(request: web.Request, target: Target) -> None:
    """Before a CRD delete (or a deletecollection of CRDs): delete the custom resources of each."""
    store = state_of(request).store
    if target.info.name:
        try:
            crds = [await store.get(CUSTOMRESOURCEDEFINITIONS, target.name)]
        except errors.ApiError as exc:
            if exc.code == 404:
                return
            raise
    else:
        options = parse_list_options(request.query, target.served)
        crds = (await store.list(CUSTOMRESOURCEDEFINITIONS, predicate=options.matches if options.filters else None)).items
    for crd in crds:
        deleted = await delete_custom_resources(store, crd.to_dict())
        log.info("deleted %d custom resources of CRD %s", deleted, crd.name)


# -- the scale subresource --------------------------------------------------------------------

def _set_path(doc: dict[str, Any], json_path: str, value: Any) -> None:
    parts = json_path.lstrip(".").split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def custom_scale(served: Served, doc: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a custom resource, read at its CRD's scale paths."""
    assert served.custom is not None and served.custom.scale is not None
    scale = served.custom.scale
    meta = doc.get("metadata") or {}
    status: dict[str, Any] = {"replicas": _lookup(doc, scale.status_replicas_path) or 0}
    if scale.label_selector_path:
        selector = _lookup(doc, scale.label_selector_path)
        if isinstance(selector, str) and selector:
            status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if meta.get(k) is not None},
            "spec": {"replicas": _lookup(doc, scale.spec_replicas_path) or 0}, "status": status}


def custom_with_replicas(served: Served, obj: Any, replicas: int) -> Any:
    """A copy of the custom resource with ``replicas`` at its CRD's specReplicasPath."""
    assert served.custom is not None and served.custom.scale is not None
    doc = obj.to_dict()
    _set_path(doc, served.custom.scale.spec_replicas_path, replicas)
    return served.resource.model.model_validate(doc)
