"""``x-kubernetes-validations``: the CEL rules of a CRD's schema, as kube-apiserver evaluates them
(``k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel``).

The expressions are compiled and run by **cel-python** (``celpy``, PyPI ``cel-python``): a maintained
pure-Python implementation of Google's Common Expression Language, so kubelite needs no Go or C
toolchain; it implements the CEL standard library, not Kubernetes' extension libraries (a rule calling
``quantity()``, ``url()``, ``isSorted()``... fails when evaluated, which refuses the object with the error).

- each rule runs at its schema node with ``self`` bound to the value there (nodes absent from the
  object are not checked);
- a rule that names ``oldSelf`` is a transition rule: it runs only on update, where the old object
  has a value at the same place (through object properties and map values; not into list items);
- a rule that is false gives a 422 cause at the node's path (plus the rule's ``fieldPath``),
  ``Invalid value: "<type>": <message>`` where the message is ``messageExpression``'s value, else
  ``message``, else ``failed rule: <rule>``; ``reason`` picks the cause's reason (FieldValueInvalid
  by default); an evaluation error is a cause too;
- :func:`compile_causes` checks a CRD's rules when it is written (a rule that does not compile is 422
  at the rule's path). Ratcheting (an unchanged invalid value passes) and cost limits are not done.

Pure: documents in, causes out. celpy (with lark, pendulum and re2 under it: ~16 MB of RSS) is
imported on the first rule compiled, not with this module: every process imports the document rules,
only the gateway ever meets a CRD with rules (issue 12's idle footprint).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from kubelite.api.errors import StatusCause

Doc = dict[str, Any]
_OLD_SELF = re.compile(r"\boldSelf\b")
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")


@lru_cache(maxsize=512)
def _program(expression: str) -> Any:
    import celpy  # here, not at the top: see the module docstring

    env = celpy.Environment()
    return env.program(env.compile(expression))


def _compile_error(expression: str) -> str | None:
    try:
        _program(expression)
    except Exception as exc:  # noqa: BLE001 - celpy raises several kinds for a bad expression
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def compile_causes(schema: Any, path: str) -> list[StatusCause]:
    """Causes for the rules of one schema tree that do not compile (``path``: the schema's field path)."""
    if not isinstance(schema, dict):
        return []
    causes: list[StatusCause] = []
    for i, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        where = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str) or not rule["rule"]:
            causes.append(StatusCause(field=f"{where}.rule", reason="FieldValueRequired", message="Required value"))
            continue
        for key in ("rule", "messageExpression"):
            if isinstance(rule.get(key), str) and (error := _compile_error(rule[key])) is not None:
                causes.append(StatusCause(field=f"{where}.{key}", reason="FieldValueInvalid",
                                          message=f"Invalid value: {json.dumps(rule[key])}: compilation failed: {error}"))
        if rule.get("reason") not in (None, *_REASONS):
            causes.append(StatusCause(field=f"{where}.reason", reason="FieldValueNotSupported",
                                      message=f"Unsupported value: {json.dumps(rule['reason'])}: supported values: "
                                      + ", ".join(f'"{r}"' for r in _REASONS)))
    for key, child in (schema.get("properties") or {}).items():
        causes += compile_causes(child, f"{path}.properties[{key}]")
    for key in ("items", "additionalProperties"):
        causes += compile_causes(schema.get(key), f"{path}.{key}")
    return causes


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def rule_causes(schema: Any, new: Any, old: Any = None, path: str = "", *, transitions: bool = False) -> list[StatusCause]:
    """Causes for the rules ``new`` breaks. ``transitions=False``: the rules without ``oldSelf`` (every
    write); ``True``: only those with it, against ``old`` (updates)."""
    if not isinstance(schema, dict) or new is None:
        return []
    causes: list[StatusCause] = []
    for rule in schema.get("x-kubernetes-validations") or []:
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
            continue
        is_transition = bool(_OLD_SELF.search(rule["rule"]))
        if is_transition != transitions or (is_transition and old is None):
            continue
        cause = _evaluate(rule, schema, new, old, path)
        if cause is not None:
            causes.append(cause)
    properties = schema.get("properties") or {}
    if isinstance(new, dict):
        old_map = old if isinstance(old, dict) else {}
        for key, value in new.items():
            child = properties.get(key, schema.get("additionalProperties"))
            causes += rule_causes(child, value, old_map.get(key), _join(path, key), transitions=transitions)
    elif isinstance(new, list) and not transitions:
        for i, item in enumerate(new):
            causes += rule_causes(schema.get("items"), item, None, f"{path}[{i}]")
    return causes


def _evaluate(rule: Doc, schema: Doc, new: Any, old: Any, path: str) -> StatusCause | None:
    from celpy import celtypes  # here, not at the top: see the module docstring
    from celpy.adapter import json_to_cel

    activation = {"self": json_to_cel(new)}
    if old is not None:
        activation["oldSelf"] = json_to_cel(old)
    field = path + (rule.get("fieldPath") or "") if rule.get("fieldPath") else path
    shown = json.dumps(schema.get("type") or "object")
    try:
        result = _program(rule["rule"]).evaluate(activation)
    except Exception as exc:  # noqa: BLE001 - a rule that cannot be evaluated refuses the object
        return StatusCause(field=field, reason="FieldValueInvalid",
                           message=f"Invalid value: {shown}: rule evaluation error: {exc}")
    if not isinstance(result, celtypes.BoolType | bool):
        message = f"rule evaluation error: {type(result).__name__}"
        return StatusCause(field=field, reason="FieldValueInvalid", message=f"Invalid value: {shown}: {message}")
    if bool(result):
        return None
    message = _message(rule, activation)
    return StatusCause(field=field, reason=rule.get("reason") or "FieldValueInvalid",
                       message=f"Invalid value: {shown}: {message}")


def _message(rule: Doc, activation: dict[str, Any]) -> str:
    if isinstance(rule.get("messageExpression"), str):
        try:
            value = _program(rule["messageExpression"]).evaluate(activation)
            if isinstance(value, str) and value.strip():
                return str(value)
        except Exception:  # noqa: BLE001, S110 - kube falls back to message when the expression fails
            pass
    return str(rule.get("message") or f"failed rule: {rule['rule']}")
