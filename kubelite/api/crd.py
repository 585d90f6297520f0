"""CustomResourceDefinition (apiextensions.k8s.io/v1): its own rules, and what it makes the gateway serve.

- :func:`prepare` (defaulting, ``SetDefaults_CustomResourceDefinition*``, and the status the naming and
  establishing controllers of apiextensions-apiserver would write: ``acceptedNames``, ``storedVersions``,
  ``NamesAccepted`` and ``Established`` conditions; kubelite serves a CRD as soon as it is stored, so both
  are set on write rather than by a controller).
- :func:`validate` (``ValidateCustomResourceDefinition``: names, scope, versions with exactly one storage
  version, a structural schema per version, subresource paths, no conversion webhooks, CEL rules that
  compile: :mod:`kubelite.api.celrules`).
- :func:`immutable` (group and scope; ``ValidateCustomResourceDefinitionUpdate``).
- :func:`served_versions`: one :class:`CustomVersion` per served version of an established CRD.

Pure: documents (camelCase dicts) in, copies and causes out. Custom resources themselves are checked by
:mod:`kubelite.api.crschema`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from kubelite.api import celrules
from kubelite.api.errors import StatusCause, quote_value
from kubelite.api.generic import document_model
from kubelite.api.resources import Resource

GROUP = "apiextensions.k8s.io"
KIND = "CustomResourceDefinition"
Doc = dict[str, Any]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_DEFAULT_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    format: str = ""
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ScaleSpec:
    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str | None = None


@dataclass(frozen=True, eq=False)  # identity: it holds the schema (dicts), and Served entries hash it
class CustomVersion:
    """One served version of an established CRD: what routing, discovery, validation and tables need."""

    crd_name: str
    group: str
    version: str
    kind: str
    list_kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    schema: Doc
    storage: bool
    status: bool
    scale: ScaleSpec | None
    columns: tuple[PrinterColumn, ...]
    storage_version: str = ""  # the CRD's storage version: what objects are stored as

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


# -- defaulting and status ------------------------------------------------------------------

def with_defaults(doc: Doc) -> Doc:
    """The CRD with kube's defaults: singular, listKind, conversion strategy, the Age column."""
    doc = copy.deepcopy(doc)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return doc
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or []:
        if isinstance(version, dict) and not version.get("additionalPrinterColumns"):
            version["additionalPrinterColumns"] = [dict(_DEFAULT_AGE)]
    return doc


def prepare(doc: Doc, *, now: str) -> Doc:
    """Defaults plus the status a served CRD has (``now``: the conditions' lastTransitionTime, RFC 3339)."""
    doc = with_defaults(doc)
    spec: Doc = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    status: Doc = dict(doc["status"]) if isinstance(doc.get("status"), dict) else {}
    names = spec.get("names") or {}
    status["acceptedNames"] = {k: v for k, v in names.items() if k in
                               ("plural", "singular", "kind", "listKind", "shortNames", "categories")}
    stored = list(status.get("storedVersions") or [])
    storage = next((v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("storage")), None)
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    previous = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}

    def condition(kind: str, reason: str, message: str) -> Doc:
        old = previous.get(kind)
        since = old.get("lastTransitionTime") if old and old.get("status") == "True" else now
        return {"type": kind, "status": "True", "lastTransitionTime": since, "reason": reason, "message": message}

    status["conditions"] = [
        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    doc["status"] = status
    return doc


def _taken_names(doc: Doc, others: list[Doc]) -> tuple[set[str], set[str]]:
    """(resource names, kind names) the group's other CRDs have accepted (getAcceptedNamesForGroup)."""
    spec = doc.get("spec") or {}
    name = (doc.get("metadata") or {}).get("name")
    resources: set[str] = set()
    kinds: set[str] = set()
    for other in others:
        if (other.get("metadata") or {}).get("name") == name or (other.get("spec") or {}).get("group") != spec.get("group"):
            continue
        accepted = (other.get("status") or {}).get("acceptedNames") or {}
        resources |= {n for n in (accepted.get("plural"), accepted.get("singular"), *(accepted.get("shortNames") or ()))
                      if n}
        kinds |= {n for n in (accepted.get("kind"), accepted.get("listKind")) if n}
    return resources, kinds


def settle_names(doc: Doc, before: Doc | None, others: list[Doc]) -> Doc:
    """``doc`` (as :func:`prepare` made it) with the names the group's other CRDs leave it, as kube's
    naming controller decides: a requested name is accepted if it is the one accepted before or nobody
    else's; otherwise NamesAccepted is False (``PluralConflict``, ``SingularConflict``,
    ``ShortNamesConflict``, ``KindConflict``, ``ListKindConflict``: ``"x" is already in use``), the
    name keeps its previously accepted value, and a CRD not established before is not established
    (``NotAccepted``), so it is not served. ``before``: the stored CRD (None on create)."""
    resources, kinds = _taken_names(doc, others)
    requested = with_defaults(doc)["spec"].get("names") or {}
    old_status = (before or {}).get("status") or {}
    accepted_before: Doc = old_status.get("acceptedNames") or {}
    accepted = dict(accepted_before)
    conflict: tuple[str, str] | None = None

    def check(field: str, reason: str, pool: set[str]) -> None:
        nonlocal conflict
        wanted = requested.get(field)
        if wanted == accepted_before.get(field) or wanted not in pool:
            accepted[field] = wanted
        else:
            conflict = (reason, f'"{wanted}" is already in use')

    # kube's order: the last conflict found names the condition
    check("plural", "PluralConflict", resources)
    check("singular", "SingularConflict", resources)
    shorts = requested.get("shortNames") or []
    if shorts != (accepted_before.get("shortNames") or []):
        clashes = [f'"{n}" is already in use' for n in shorts if n not in (accepted_before.get("shortNames") or [])
                   and n in resources]
        if clashes:
            conflict = ("ShortNamesConflict", clashes[0] if len(clashes) == 1 else "[" + ", ".join(clashes) + "]")
        else:
            accepted["shortNames"] = shorts
    check("kind", "KindConflict", kinds)
    check("listKind", "ListKindConflict", kinds)
    if conflict is None:
        return doc
    if "categories" in requested:
        accepted["categories"] = requested["categories"]
    status = dict(doc.get("status") or {})
    status["acceptedNames"] = {k: v for k, v in accepted.items() if v}
    now = next((c.get("lastTransitionTime") for c in status.get("conditions") or [] if isinstance(c, dict)), None)
    old = {c.get("type"): c for c in old_status.get("conditions") or [] if isinstance(c, dict)}
    names_accepted = {"type": "NamesAccepted", "status": "False", "lastTransitionTime": now,
                      "reason": conflict[0], "message": conflict[1]}
    if old.get("NamesAccepted", {}).get("status") == "False":
        names_accepted["lastTransitionTime"] = old["NamesAccepted"].get("lastTransitionTime", now)
    established = old.get("Established") or {"type": "Established", "status": "False", "lastTransitionTime": now,
                                              "reason": "NotAccepted", "message": "not all names are accepted"}
    status["conditions"] = [names_accepted, established]
    return {**doc, "status": status}


# -- validation -----------------------------------------------------------------------------

def _invalid(path: str, value: Any, detail: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueInvalid", message=f"Invalid value: {quote_value(value)}: {detail}")


def _required(path: str) -> StatusCause:
    return StatusCause(field=path, reason="FieldValueRequired", message="Required value")


def validate(doc: Doc) -> list[StatusCause]:
    """422 causes for a CRD kube-apiserver would refuse (the subset kubelite serves), after defaulting."""
    doc = with_defaults(doc)
    causes: list[StatusCause] = []
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    group, names = spec.get("group"), spec.get("names")
    if not group:
        causes.append(_required("spec.group"))
    elif not isinstance(group, str) or not _DNS_SUBDOMAIN.match(group) or "." not in group:
        causes.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
    if not isinstance(names, dict):
        return [*causes, _required("spec.names")]
    plural, kind = names.get("plural"), names.get("kind")
    for field, value in (("plural", plural), ("singular", names.get("singular"))):
        if not value:
            causes.append(_required(f"spec.names.{field}"))
        elif not isinstance(value, str) or not _DNS_LABEL.match(value):
            causes.append(_invalid(f"spec.names.{field}", value, "a lowercase RFC 1123 label must consist of lower "
                                   "case alphanumeric characters or '-'"))
    for field, value in (("kind", kind), ("listKind", names.get("listKind"))):
        if not value:
            causes.append(_required(f"spec.names.{field}"))
        elif not isinstance(value, str) or not _KIND.match(value):
            causes.append(_invalid(f"spec.names.{field}", value, "may have mixed case, but should otherwise match: "
                                   "[a-z]([-a-z0-9]*[a-z0-9])?"))
    for i, short in enumerate(names.get("shortNames") or []):
        if not isinstance(short, str) or not _DNS_LABEL.match(short):
            causes.append(_invalid(f"spec.names.shortNames[{i}]", short, "a lowercase RFC 1123 label"))
    name = (doc.get("metadata") or {}).get("name")
    if plural and group and name != f"{plural}.{group}":
        causes.append(_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(StatusCause(field="spec.scope", reason="FieldValueNotSupported",
                                  message=f'Unsupported value: {quote_value(spec.get("scope"))}: supported values: '
                                  '"Cluster", "Namespaced"'))
    strategy = (spec.get("conversion") or {}).get("strategy", "None")
    if strategy != "None":
        causes.append(StatusCause(field="spec.conversion.strategy", reason="FieldValueNotSupported",
                                  message=f'Unsupported value: {quote_value(strategy)}: supported values: "None" '
                                  "(kubelite runs no conversion webhooks)"))
    return causes + _version_causes(spec.get("versions"))


def _version_causes(versions: Any) -> list[StatusCause]:
    if not isinstance(versions, list) or not versions:
        return [_required("spec.versions")]
    causes: list[StatusCause] = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            causes.append(_invalid(path, version, "must be an object"))
            continue
        name = version.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            causes.append(_invalid(f"{path}.name", name, "a DNS-1035 label"))
        elif name in seen:
            causes.append(StatusCause(field=f"{path}.name", reason="FieldValueDuplicate",
                                      message=f"Duplicate value: {quote_value(name)}"))
        seen.add(str(name))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            causes.append(StatusCause(field=f"{path}.schema.openAPIV3Schema", reason="FieldValueRequired",
                                      message="Required value: schemas are required"))
        else:
            causes += _schema_causes(schema, f"{path}.schema.openAPIV3Schema", root=True)
            causes += celrules.compile_causes(schema, f"{path}.schema.openAPIV3Schema")
        scale = (version.get("subresources") or {}).get("scale")
        if isinstance(scale, dict):
            for key, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
                value = scale.get(key)
                if not isinstance(value, str) or not value.startswith(prefix):
                    causes.append(_invalid(f"{path}.subresources.scale.{key}", value,
                                           f"should be a json path under {prefix[:-1]}"))
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            cpath = f"{path}.additionalPrinterColumns[{j}]"
            if not isinstance(column, dict) or not column.get("name"):
                causes.append(_required(f"{cpath}.name"))
            elif not column.get("jsonPath"):
                causes.append(_required(f"{cpath}.jsonPath"))
            elif column.get("type") not in ("integer", "number", "string", "boolean", "date"):
                causes.append(StatusCause(field=f"{cpath}.type", reason="FieldValueNotSupported",
                                          message=f"Unsupported value: {quote_value(column.get('type'))}: supported "
                                          'values: "boolean", "date", "integer", "number", "string"'))
    storage = [v for v in versions if isinstance(v, dict) and v.get("storage") is True]
    if len(storage) != 1:
        causes.append(_invalid("spec.versions", [v.get("name") for v in storage if isinstance(v, dict)],
                               "must have exactly one version marked as storage version"))
    return causes


def _schema_causes(schema: Doc, path: str, *, root: bool = False) -> list[StatusCause]:
    """Structural-schema rules kubelite relies on: a type on each node (unless int-or-string or
    preserve-unknown-fields), ``object`` at the root."""
    causes: list[StatusCause] = []
    kind = schema.get("type")
    if root and kind != "object":
        causes.append(_invalid(f"{path}.type", kind, "must be object at the root"))
    elif not kind and not schema.get("x-kubernetes-int-or-string") and not schema.get(
            "x-kubernetes-preserve-unknown-fields") and not root:
        causes.append(_required(f"{path}.type"))
    for key, child in (schema.get("properties") or {}).items():
        if isinstance(child, dict):
            causes += _schema_causes(child, f"{path}.properties[{key}]")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            causes += _schema_causes(schema[key], f"{path}.{key}")
    return causes


def immutable(old: Doc, new: Doc) -> list[StatusCause]:
    causes = []
    for field in ("group", "scope"):
        before, after = (old.get("spec") or {}).get(field), (new.get("spec") or {}).get(field)
        if before != after:
            causes.append(_invalid(f"spec.{field}", after, "field is immutable"))
    return causes


# -- what it serves ---------------------------------------------------------------------------

def is_established(doc: Doc) -> bool:
    conditions = (doc.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions
               if isinstance(c, dict)) and not (doc.get("metadata") or {}).get("deletionTimestamp")


def resource_of(version: CustomVersion) -> Resource:
    """The Resource (etcd keys, model) of one served version: ``/registry/<group>/<plural>/``."""
    return Resource(version.group, version.version, version.kind, version.plural, version.namespaced,
                    document_model(version.api_version, version.kind), version.short_names, custom=True,
                    status_subresource=version.status, storage_version=version.storage_version)


def storage_resource(doc: Doc) -> Resource | None:
    """The Resource a CRD's objects are stored as (any established CRD; None for one never served):
    what a reader of every object of the kind (namespace deletion, CRD deletion) lists."""
    versions = served_versions(doc)
    chosen = next((v for v in versions if v.storage), versions[0] if versions else None)
    return resource_of(chosen) if chosen else None


def served_versions(doc: Doc) -> list[CustomVersion]:
    """The CRD's served versions, the storage version's entry marked; [] unless established."""
    if not is_established(doc):
        return []
    doc = with_defaults(doc)
    spec = doc["spec"]
    names = (doc.get("status") or {}).get("acceptedNames") or spec["names"]
    storage_version = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), "")
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        result.append(CustomVersion(
            crd_name=doc["metadata"]["name"], group=spec["group"], version=version["name"], kind=names["kind"],
            list_kind=names.get("listKind") or names["kind"] + "List", plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(), namespaced=spec["scope"] == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            schema=(version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"},
            storage=bool(version.get("storage")), status="status" in subresources,
            scale=ScaleSpec(scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath"))
            if isinstance(scale, dict) else None,
            columns=tuple(PrinterColumn(c["name"], c.get("type", "string"), c["jsonPath"], c.get("format", ""),
                                        c.get("description", ""), int(c.get("priority", 0)))
                          for c in version.get("additionalPrinterColumns") or []),
            storage_version=storage_version,
        ))
    return result
