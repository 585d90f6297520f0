"""Field ownership: ``metadata.managedFields``, server-side apply and its conflicts.

Pure functions on JSON documents, as k8s.io/apiserver's ``fieldmanager`` and
structured-merge-diff's ``merge.Updater`` behave:

- every write records who set which fields: an ``Update`` entry for
  create/update/patch (manager from ``?fieldManager=`` or the client's
  user-agent prefix), an ``Apply`` entry for server-side apply;
- an apply that changes a field another manager owns is refused with 409
  Conflict listing each field and its manager, unless forced
  (``force=true``), which moves the field to the applier; an Update always
  takes the fields it changes;
- an apply removes the fields its manager set last time and no longer sets,
  unless another manager still owns them;
- fields nobody owns after a write are simply not listed; removed fields
  leave every manager's set.

Entries for the main resource never hold ``status`` and entries for the
``status`` subresource hold only ``status`` (kube's reset fields), and the
identity and server-set metadata are never owned (kube's stripped fields).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from kubelite.api import errors
from kubelite.api.semantic import normalize
from kubelite.gateway.fieldpath import FieldSet, Path, from_fields_v1, to_fields_v1, to_string
from kubelite.gateway.fieldschema import Node
from kubelite.gateway.structured import ShapeError, compare, field_set, key_fields, merge, remove

APPLY, UPDATE = "Apply", "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10  # kube-apiserver's DefaultMaxUpdateManagers
MAX_MANAGER_LENGTH = 128
# set by the server, never owned by a manager (fieldmanager's stripped fields)
_STRIPPED: frozenset[Path] = frozenset(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [("f:metadata", "f:" + f) for f in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
        "managedFields", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
    )]
)


_STRIPPED_ROOTS: frozenset[Path] = frozenset([("f:apiVersion",), ("f:kind",)])
# what a write through each subresource changes (the store keeps the rest)
_SUBRESOURCE_FIELDS: dict[str, Path] = {
    "status": ("f:status",), "scale": ("f:spec", "f:replicas"), "finalize": ("f:spec", "f:finalizers"),
}


@dataclass(frozen=True)
class Entry:
    """One ``managedFields`` item; ``time`` is RFC 3339 (``2026-01-02T03:04:05Z``)."""

    manager: str
    operation: str
    api_version: str
    time: str | None
    fields: FieldSet
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What tells managers apart (kube's BuildManagerIdentifier: an applier's apiVersion does not count)."""
        return (self.manager, self.operation, self.api_version if self.operation == UPDATE else "", self.subresource)

    def describe(self) -> str:
        """How kube-apiserver names the manager in a conflict."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


Managers = dict[tuple[str, str, str, str], Entry]


def manager_name(field_manager: str | None, user_agent: str | None) -> str:
    """``?fieldManager=``, else the user-agent's product (``kubectl/v1.32.0 (…)`` → ``kubectl``)."""
    if field_manager:
        return field_manager
    return (user_agent or "").split("/")[0][:MAX_MANAGER_LENGTH]


class InvalidField(ValueError):
    """A bad ``fieldManager`` or ``managedFields`` (the caller answers 422 naming ``field``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate_manager(name: str) -> None:
    """kube's ValidateFieldManager: at most 128 printable characters."""
    if len(name) > MAX_MANAGER_LENGTH:
        raise InvalidField("fieldManager", f"Too long: may not be longer than {MAX_MANAGER_LENGTH}")
    if any(not ch.isprintable() for ch in name):
        raise InvalidField("fieldManager", f"Invalid value: {name!r}: must only contain printable characters")


# -- managedFields ⇄ entries ---------------------------------------------------------

def decode(managed: Any) -> Managers:
    """Entries of a ``managedFields`` list; InvalidField naming the item when one is malformed."""
    if managed is None:
        return {}
    if not isinstance(managed, list):
        raise _bad_managed("metadata.managedFields", "must be a list")
    out: Managers = {}
    for i, item in enumerate(managed):
        where = f"metadata.managedFields[{i}]"
        if not isinstance(item, dict):
            raise _bad_managed(where, "must be an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise _bad_managed(f"{where}.operation", f'must be "{APPLY}" or "{UPDATE}"')
        if item.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise _bad_managed(f"{where}.fieldsType", 'must be "FieldsV1"')
        try:
            fields = from_fields_v1(item.get("fieldsV1") or {})
        except ValueError as exc:
            raise _bad_managed(f"{where}.fieldsV1", str(exc)) from exc
        for name in ("manager", "apiVersion", "time", "subresource"):
            if item.get(name) is not None and not isinstance(item[name], str):
                raise _bad_managed(f"{where}.{name}", "must be a string")
        entry = Entry(str(item.get("manager") or ""), operation, str(item.get("apiVersion") or ""),
                      item.get("time"), fields, str(item.get("subresource") or ""))
        out[entry.identity] = entry
    return out


def _bad_managed(field_path: str, message: str) -> InvalidField:
    return InvalidField(field_path, f"Invalid value: {message}")


def encode(managers: Managers) -> list[dict[str, Any]]:
    """The ``managedFields`` list, sorted as kube sorts it (Apply first, then by time, manager)."""
    entries = sorted((e for e in managers.values() if e.fields),
                     key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    out = []
    for e in entries:
        item: dict[str, Any] = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
        if e.time:
            item["time"] = e.time
        item.update({"fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(e.fields)})
        if e.subresource:
            item["subresource"] = e.subresource
        out.append(item)
    return out


# -- the two operations ------------------------------------------------------------------

@dataclass(frozen=True)
class Write:
    """Who writes and how: ``subresource`` is "", "status", "scale" or "finalize"; ``now`` an RFC 3339
    time; ``kind`` (when known) lets changes be found between decoded, defaulted objects, as kube does."""

    manager: str
    api_version: str
    now: str
    subresource: str = ""
    kind: str = ""


def update(live: dict[str, Any] | None, new: dict[str, Any], node: Node, write: Write) -> dict[str, Any]:
    """``new`` with managedFields after an Update (create, update or patch) by ``write.manager``.

    ``new``'s own managedFields, when present and different, are taken as the
    user's (``[]`` resets them, as in kube); absent, the live ones carry over.
    An update never fails on ownership: an object whose fields cannot be
    tracked (duplicate or missing list keys) is stored without managedFields.
    """
    managers = _starting_managers(live, new)
    try:
        added, modified, removed = _owned(
            compare(_normal(write, _body(live)), _normal(write, _body(new)), node), write.subresource)
    except ShapeError:
        # kube's UpdateNoErrors: an object whose fields cannot be tracked loses its managedFields
        return _with_managed(new, {})
    changed = added | modified
    for identity, entry in list(managers.items()):
        managers[identity] = replace(entry, fields=entry.fields - removed - changed)
    mine = Entry(write.manager, UPDATE, write.api_version, write.now, frozenset(), write.subresource)
    previous = managers.get(mine.identity, mine)
    # kube's managedFieldsUpdater: the entry's time moves when this write changed any field
    _put(managers, previous, (previous.fields | changed) - removed, write.now, touched=bool(changed))
    return _with_managed(new, _capped(managers, write.now))


def apply(live: dict[str, Any] | None, config: dict[str, Any], node: Node, write: Write, *, force: bool) -> dict[str, Any]:
    """The object after ``config`` is applied by ``write.manager``; 409 listing the conflicts unless ``force``.

    ``live`` is None on create. The result still needs validation; its
    managedFields are set.
    """
    live_body = _body(live) if live is not None else {}
    managers = decode((live or {}).get("metadata", {}).get("managedFields"))
    try:
        if live is not None and not managers:
            seed = _owned_set(field_set(live_body, node, strict=False), "")
            managers[(BEFORE_FIRST_APPLY, UPDATE, write.api_version, "")] = Entry(
                BEFORE_FIRST_APPLY, UPDATE, write.api_version, write.now, seed)
        applied = _owned_set(field_set(_body(config), node), write.subresource)
        merged = merge(live_body, _body(config), node)
        mine = Entry(write.manager, APPLY, write.api_version, write.now, frozenset(), write.subresource)
        last = managers.get(mine.identity)
        others = [e for i, e in managers.items() if i != mine.identity]
        if last is not None:
            owned = applied.union(*(e.fields for e in others))
            merged = remove(merged, _droppable(last.fields - owned, owned), node, keep=owned)
        added, modified, removed = _owned(
            compare(_normal(write, live_body), _normal(write, merged), node), write.subresource)
    except ShapeError as exc:
        # the configuration does not fit the schema (a list item without its key): 422, as a patch that
        # cannot be applied, with structured-merge-diff's words
        raise errors.ApiError(errors.Status(code=422, reason="Invalid",
                                            message=f"failed to create typed patch object: {exc}")) from exc
    conflicts = {e.identity: e.fields & (added | modified) for e in others}
    conflicts = {i: c for i, c in conflicts.items() if c}
    if conflicts and not force:
        raise conflict_error([(managers[i], c) for i, c in conflicts.items()])
    for identity, entry in list(managers.items()):
        if identity != mine.identity:
            managers[identity] = replace(entry, fields=entry.fields - removed - conflicts.get(identity, frozenset()))
    _put(managers, last or mine, applied, write.now, touched=bool(added or modified or removed))
    result = dict(merged)
    for name in ("apiVersion", "kind"):
        if name in config:
            result[name] = config[name]
    result["metadata"] = {**(merged.get("metadata") or {})}
    return _with_managed(result, _capped(managers, write.now))


def _droppable(paths: FieldSet, owned: FieldSet) -> FieldSet:
    """Paths to remove: not above anything still owned, and never an item's key field on its own."""
    above_owned = {o[:i] for o in owned for i in range(1, len(o))}
    return frozenset(p for p in paths if p not in above_owned and p[-1] not in key_fields(p[:-1]))


def _put(managers: Managers, entry: Entry, fields: FieldSet, now: str, *, touched: bool = False) -> None:
    """Record ``fields`` for ``entry``; its time moves when they change or its write changed the object."""
    changed = touched or fields != entry.fields
    managers[entry.identity] = replace(entry, fields=fields, time=now if changed else entry.time)


def _starting_managers(live: dict[str, Any] | None, new: dict[str, Any]) -> Managers:
    live_managed = (live or {}).get("metadata", {}).get("managedFields")
    new_managed = (new.get("metadata") or {}).get("managedFields")
    if new_managed is not None and new_managed != live_managed:
        return decode(new_managed)
    return decode(live_managed)


def _capped(managers: Managers, now: str) -> Managers:
    """At most MAX_UPDATE_MANAGERS Update entries: the oldest fold into "ancient-changes", as kube does."""
    updates = sorted((e for e in managers.values()
                      if e.operation == UPDATE and e.fields and e.manager != ANCIENT_CHANGES), key=lambda e: e.time or "")
    has_ancient = any(e.manager == ANCIENT_CHANGES for e in managers.values())
    excess = len(updates) + (1 if has_ancient else 0) - MAX_UPDATE_MANAGERS
    if excess <= 0:
        return managers
    out = dict(managers)
    folded = updates[: excess + (0 if has_ancient else 1)]
    ancient = next((e for e in managers.values() if e.manager == ANCIENT_CHANGES),
                   Entry(ANCIENT_CHANGES, UPDATE, folded[-1].api_version, now, frozenset()))
    for entry in folded:
        del out[entry.identity]
    out[ancient.identity] = replace(ancient, fields=ancient.fields.union(*(e.fields for e in folded)),
                                    time=folded[-1].time)
    return out


def _normal(write: Write, doc: dict[str, Any]) -> dict[str, Any]:
    """What kube compares: the object decoded and defaulted (``resources: {}`` is no field, ``cpu: 0.1``
    is ``100m``), so a change of spelling is no change of ownership."""
    return normalize(write.kind, doc) if write.kind else doc


def _body(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The document without its managedFields (they are not fields anyone owns)."""
    doc = dict(doc or {})
    metadata = doc.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        doc["metadata"] = {k: v for k, v in metadata.items() if k != "managedFields"}
    return doc


def _owned_set(paths: Iterable[Path], subresource: str) -> FieldSet:
    """Only what a manager of this (sub)resource can own: never the stripped metadata; through a
    subresource only what it writes (kube's reset fields), through the main resource never status."""
    scope = _SUBRESOURCE_FIELDS.get(subresource)
    return frozenset(  # ("f:metadata",) itself is in _STRIPPED: p[:2] of a 1-tuple is the tuple
        p for p in paths
        if p[:2] not in _STRIPPED and p[:1] not in _STRIPPED_ROOTS
        and (p[: len(scope)] == scope if scope is not None else p[0] != "f:status")
    )


def _owned(sets: tuple[FieldSet, FieldSet, FieldSet], subresource: str) -> tuple[FieldSet, FieldSet, FieldSet]:
    added, modified, removed = sets
    return _owned_set(added, subresource), _owned_set(modified, subresource), _owned_set(removed, subresource)


def _with_managed(doc: dict[str, Any], managers: Managers) -> dict[str, Any]:
    metadata = dict(doc.get("metadata") or {})
    encoded = encode(managers)
    if encoded:
        metadata["managedFields"] = encoded
    else:
        metadata.pop("managedFields", None)
    return {**doc, "metadata": metadata}


# -- conflicts ---------------------------------------------------------------------------

def conflict_error(conflicts: Iterable[tuple[Entry, FieldSet]]) -> errors.ApiError:
    """409 Conflict worded as kube-apiserver's (one cause per field, reason FieldManagerConflict)."""
    by_manager: dict[str, list[str]] = {}
    causes = []
    for entry, paths in sorted(conflicts, key=lambda c: c[0].describe()):
        texts = sorted(to_string(p) for p in paths)
        by_manager.setdefault(entry.describe(), []).extend(texts)
        causes += [errors.StatusCause(reason="FieldManagerConflict", message=f"conflict with {entry.describe()}",
                                      field=t) for t in texts]
    count = len(causes)
    if count == 1:
        ((manager, (path,)),) = by_manager.items()
        message = f"Apply failed with 1 conflict: conflict with {manager}: {path}"
    else:
        lines = []
        for manager, texts_of in by_manager.items():
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {p}" for p in texts_of]
        message = f"Apply failed with {count} conflicts: " + "\n".join(lines)
    return errors.ApiError(errors.Status(code=409, reason="Conflict", message=message,
                                         details=errors.StatusDetails(causes=causes)))
