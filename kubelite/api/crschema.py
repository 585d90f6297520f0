"""A custom resource against its CRD version's ``openAPIV3Schema``: prune, default, validate.

The order is kube-apiserver's (apiextensions-apiserver ``pkg/registry/customresource``): fields the
structural schema does not name are pruned (unless ``x-kubernetes-preserve-unknown-fields``), then
``default`` values fill absent fields, then the object is validated. ``apiVersion``, ``kind`` and
``metadata`` at the root are the API machinery's, never pruned or schema-checked here.

Validation uses the ``jsonschema`` library (Draft 4, the dialect OpenAPI v3.0 schemas are): a
maintained validator instead of a home-made one. Kubernetes' extensions are mapped onto it first
(``nullable``, ``x-kubernetes-int-or-string``); messages and causes follow kube-openapi's
(``spec.replicas in body must be of type integer: "three"``). ``x-kubernetes-validations`` (CEL) are
refused when the CRD is written (:mod:`kubelite.api.crd`): no maintained CEL library is used yet.

Pure: documents in, copies and causes out. jsonschema (with referencing and rpds: ~2.5 MB of RSS)
is imported by the first custom resource validated, not with this module (issue 12's idle footprint).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from kubelite.api.errors import StatusCause, quote_value

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

Schema = dict[str, Any]
_MACHINERY = ("apiVersion", "kind", "metadata")
_PRESERVE = "x-kubernetes-preserve-unknown-fields"


def path_text(steps: Iterable[Any]) -> str:
    """``spec.items[0].name`` from JSON path steps."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


# -- pruning ----------------------------------------------------------------------------

def prune(doc: dict[str, Any], schema: Schema) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``doc`` without the fields ``schema`` does not allow, and their paths (document order)."""
    pruned = copy.deepcopy(doc)
    dropped: list[str] = []
    machinery = {k: pruned.pop(k) for k in _MACHINERY if k in pruned}
    _prune(pruned, schema, [], dropped)
    return {**machinery, **pruned}, dropped


def _prune(value: Any, schema: Schema, path: list[Any], dropped: list[str]) -> None:
    if isinstance(value, dict):
        if schema.get(_PRESERVE) and "properties" not in schema and "additionalProperties" not in schema:
            return
        properties: dict[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            child = properties.get(key)
            if child is None and isinstance(extra, dict):
                child = extra
            if child is None:
                if extra is True or schema.get(_PRESERVE):
                    continue
                dropped.append(path_text([*path, key]))
                del value[key]
            else:
                _prune(value[key], child, [*path, key], dropped)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], [*path, i], dropped)


# -- defaulting ---------------------------------------------------------------------------

def apply_defaults(doc: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """A copy of ``doc`` with each absent property that has a ``default`` set to it (at any depth)."""
    result = copy.deepcopy(doc)
    machinery = {k: result.pop(k) for k in _MACHINERY if k in result}
    _default(result, schema)
    return {**machinery, **result}


def _default(value: Any, schema: Schema) -> None:
    if isinstance(value, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            if key in value:
                _default(value[key], child)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in (schema.get("properties") or {}):
                    _default(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(item, schema["items"])


# -- validation ---------------------------------------------------------------------------

def as_json_schema(schema: Any) -> Any:
    """Kubernetes' OpenAPI extensions as Draft 4 keywords (a copy)."""
    if isinstance(schema, list):
        return [as_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: as_json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    out.pop("format", None)  # formats are advisory in kube's structural schemas except a few; not checked here
    return out


def validate(doc: dict[str, Any], schema: Schema) -> list[StatusCause]:
    """422 causes for what ``doc`` breaks in ``schema`` (root machinery fields excepted), in path order."""
    from jsonschema import Draft4Validator  # here, not at the top: see the module docstring

    body = {k: v for k, v in doc.items() if k not in _MACHINERY}
    root = as_json_schema({**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items()
                                                   if k not in _MACHINERY}})
    root.pop("required", None)
    required = [f for f in schema.get("required") or [] if f not in _MACHINERY]
    if required:
        root["required"] = required
    errors = sorted(Draft4Validator(root).iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    return [_cause(e) for e in errors]


def _cause(error: ValidationError) -> StatusCause:
    """kube-openapi's wording for the common keywords; the library's message for the rest."""
    steps = list(error.absolute_path)
    where = path_text(steps)
    value, keyword, limit = error.instance, error.validator, cast(Any, error.validator_value)
    shown = where or "body"
    if keyword == "required":
        missing = next((f for f in limit if isinstance(value, dict) and f not in value), "")
        return StatusCause(field=path_text([*steps, missing]), reason="FieldValueRequired", message="Required value")
    if keyword == "enum":
        supported = ", ".join(quote_value(v) for v in limit)
        return StatusCause(field=where, reason="FieldValueNotSupported",
                           message=f"Unsupported value: {quote_value(value)}: supported values: {supported}")
    if keyword == "type":
        wanted = limit if isinstance(limit, str) else " or ".join(limit)
        detail = f"{shown} in body must be of type {wanted}: {quote_value(_json_type(value))}"
    elif keyword == "maximum":
        detail = f"{shown} in body should be less than or equal to {limit}"
    elif keyword == "minimum":
        detail = f"{shown} in body should be greater than or equal to {limit}"
    elif keyword == "maxLength":
        detail = f"{shown} in body should be at most {limit} chars long"
    elif keyword == "minLength":
        detail = f"{shown} in body should be at least {limit} chars long"
    elif keyword == "pattern":
        detail = f"{shown} in body should match '{limit}'"
    elif keyword == "maxItems":
        detail = f"{shown} in body should have at most {limit} items"
    elif keyword == "minItems":
        detail = f"{shown} in body should have at least {limit} items"
    else:
        detail = error.message
    return StatusCause(field=where, reason="FieldValueInvalid", message=f"Invalid value: {quote_value(value)}: {detail}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"
