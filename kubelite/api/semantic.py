"""Semantic comparison of Kubernetes documents: the one home of "are these the same object?".

Kubernetes never compares raw JSON. It decodes into Go structs (where an
omitted field, ``null``, ``""``, ``[]`` and ``{}`` all become the same zero
value), applies defaults, and compares with ``apiequality.Semantic.DeepEqual``
(nil and empty slices and maps are equal, quantities compare by value). So
``resources: {}`` equals no ``resources``, ``matchExpressions: []`` equals
none, ``timeoutSeconds: 0`` equals the default ``1``, and ``cpu: 1000m``
equals ``cpu: "1"``.

:func:`normalize` gives every spelling of one object the same document;
equality, the pod-template hash, immutable-field checks, no-op update
detection and ``kl apply``'s "unchanged" all go through it. The walk follows
Kubernetes' field table (:mod:`kubelite.api.schema`) so it knows maps
(whose entries, even ``""`` label values, are data) from structs (whose
empty fields are absent). The normal form is for comparing and hashing, not
for storing or sending: quantities get one canonical spelling of their
value, not necessarily the one Kubernetes prints.

Rules, in order: drop empty fields (``None``, ``""`` strings, ``[]``, ``{}``,
and zero ints/false bools of the Go fields that are not pointers, listed in
``_ZERO_IS_ABSENT``); apply Kubernetes' defaults (:mod:`kubelite.api.defaults`);
drop empty fields again. Int-or-string values are kept as they are:
Kubernetes tells ``1`` from ``"1"`` too.
"""

from __future__ import annotations

import copy
import hashlib
import json
from fractions import Fraction
from typing import Any

from kubelite.api.defaults import pod_template_with_defaults, with_defaults
from kubelite.api.names import ALPHABET
from kubelite.api.schema import k8s_schema, root_type
from kubelite.api.quantity import parse_quantity

POD_TEMPLATE_HASH = "pod-template-hash"
"""The label the Deployment controller adds to a ReplicaSet's template and selector (DefaultDeploymentUniqueLabelKey)."""

_TEMPLATE_TYPE = "V1PodTemplateSpec"
_ABSENT = object()

# Go fields that are plain (not pointer) ints or bools: Go decodes an absent one as 0/false.
# Pointer fields (replicas, terminationGracePeriodSeconds, tolerationSeconds, runAsUser, ...) are not
# listed: there 0 or false is a value of its own. A plain field missing here only makes the
# comparison stricter than Kubernetes' (0 and absent then differ), never looser.
_ZERO_IS_ABSENT: dict[str, frozenset[str]] = {
    "V1PodSpec": frozenset({"hostNetwork", "hostPID", "hostIPC"}),
    "V1Container": frozenset({"stdin", "stdinOnce", "tty"}),
    "V1ContainerPort": frozenset({"hostPort"}),
    "V1VolumeMount": frozenset({"readOnly"}),
    "V1PersistentVolumeClaimVolumeSource": frozenset({"readOnly"}),
    "V1Probe": frozenset({"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                          "failureThreshold"}),
    "V1DeploymentSpec": frozenset({"paused", "minReadySeconds"}),
    "V1ReplicaSetSpec": frozenset({"minReadySeconds"}),
    "V1DeploymentStatus": frozenset({"replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                                     "unavailableReplicas", "observedGeneration"}),
    "V1ReplicaSetStatus": frozenset({"replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                                     "observedGeneration"}),
}
# Maps and fields whose values are resource.Quantity, for a field table that types them as plain
# strings (one that says "quantity" needs no list).
_QUANTITY_MAPS: dict[str, frozenset[str]] = {
    "V1ResourceRequirements": frozenset({"requests", "limits"}),
    "V1PodSpec": frozenset({"overhead"}),
    "V1NodeStatus": frozenset({"capacity", "allocatable"}),
}
_QUANTITY_FIELDS: dict[str, frozenset[str]] = {"V1EmptyDirVolumeSource": frozenset({"sizeLimit"})}


def normalize(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The normal form of an object of ``kind`` (a new document; ``doc`` is not changed).

    Kinds missing from the field table (custom resources) get the generic rule:
    ``None``, ``[]`` and ``{}`` fields are dropped, everything else is kept.
    """
    type_ref = root_type(kind) or "any"
    pruned = _as_dict(_prune(doc, type_ref))
    if "spec" not in pruned:
        return pruned  # defaults are all in the spec: nothing more to do (status and metadata writes)
    return _as_dict(_prune(with_defaults(kind, pruned), type_ref))


def normalize_template(template: dict[str, Any] | None) -> dict[str, Any]:
    """The normal form of a pod template (``spec.template`` of a Deployment or ReplicaSet)."""
    pruned = _as_dict(_prune(template or {}, _TEMPLATE_TYPE))
    return _as_dict(_prune(pod_template_with_defaults(pruned), _TEMPLATE_TYPE))


def semantically_equal(kind: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two documents of ``kind`` are the same object for Kubernetes (after defaulting)."""
    return normalize(kind, a) == normalize(kind, b)


def is_nothing(value: Any) -> bool:
    """``None``, ``[]`` or ``{}``: a value that is no field at all wherever it stands, even without knowing
    the field's type (``""`` and ``0`` need the type: a label value ``""`` is data)."""
    return value is None or value == [] or value == {}


def part_equal(kind: str, part: str, a: Any, b: Any) -> bool:
    """Whether one top-level part (``"spec"``, ``"status"``) of two ``kind`` documents is the same."""
    return normalize(kind, {part: a}).get(part) == normalize(kind, {part: b}).get(part)


def without_hash_label(template: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of the template without the ``pod-template-hash`` label (no empty ``labels`` left)."""
    doc: dict[str, Any] = copy.deepcopy(template or {})
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return doc
    labels = meta.get("labels")
    if isinstance(labels, dict) and POD_TEMPLATE_HASH in labels:
        del labels[POD_TEMPLATE_HASH]
        if not labels:
            del meta["labels"]
    return doc


def templates_equal_ignoring_hash(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Kubernetes' ``EqualIgnoreHash``: the same pod template apart from the pod-template-hash label."""
    return normalize_template(without_hash_label(a)) == normalize_template(without_hash_label(b))


def template_hash(template: dict[str, Any] | None, collision_count: int | None = None) -> str:
    """A stable 10-character name suffix for a pod template, in Kubernetes' safe alphabet.

    Computed on the normal form without the hash label, so every spelling of
    one template (``resources: {}``, defaults written out or not) gets the
    same hash, across processes and restarts. ``collision_count`` (the
    Deployment's ``status.collisionCount``) changes it after a name clash.
    """
    payload = json.dumps(normalize_template(without_hash_label(template)), sort_keys=True, separators=(",", ":"))
    if collision_count:
        payload += f"#{collision_count}"
    digest = int.from_bytes(hashlib.sha256(payload.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


# -- the walk ------------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _prune(value: Any, type_ref: str) -> Any:
    """The value with its empty fields dropped, or ``_ABSENT`` when nothing is left."""
    if value is None:
        return _ABSENT
    if type_ref.startswith("[]"):
        if not isinstance(value, list):
            return value
        items = [_element(item, type_ref[2:]) for item in value]
        return items or _ABSENT
    if type_ref.startswith("{}"):
        if not isinstance(value, dict):
            return value
        entries = {key: _element(item, type_ref[2:]) for key, item in value.items()}
        return entries or _ABSENT
    fields: dict[str, str] | None = k8s_schema()["types"].get(type_ref)
    if fields is None:
        return _untyped(value)
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    zero_is_absent = _ZERO_IS_ABSENT.get(type_ref, frozenset())
    for key, item in value.items():
        child_type = fields.get(key, "any")
        pruned = _prune(item, child_type)
        if pruned is _ABSENT or (child_type == "string" and pruned == ""):
            continue
        if key in zero_is_absent and pruned is not True and pruned in (0, False):
            continue
        if (child_type == "{}quantity" or key in _QUANTITY_MAPS.get(type_ref, ())) and isinstance(pruned, dict):
            pruned = {name: _quantity(q) for name, q in pruned.items()}
        elif child_type == "quantity" or key in _QUANTITY_FIELDS.get(type_ref, ()):
            pruned = _quantity(pruned)
        result[key] = pruned
    return result or _ABSENT


def _element(value: Any, type_ref: str) -> Any:
    """A list element or map value: normalised inside, but never dropped (its position or key is data)."""
    pruned = _prune(value, type_ref)
    if pruned is _ABSENT:
        return {} if isinstance(value, dict) else [] if isinstance(value, list) else value
    return pruned


def _untyped(value: Any) -> Any:
    """Fields the table does not type (unknown fields, custom resources): drop only None, [] and {}."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            pruned = _untyped(item)
            if pruned is not _ABSENT:
                result[key] = pruned
        return result or _ABSENT
    if isinstance(value, list):
        items = [_untyped_element(item) for item in value]
        return items or _ABSENT
    return _ABSENT if value is None else value


def _untyped_element(value: Any) -> Any:
    pruned = _untyped(value)
    if pruned is _ABSENT:
        return {} if isinstance(value, dict) else [] if isinstance(value, list) else value
    return pruned


def _quantity(value: Any) -> Any:
    """One spelling per value: ``"1000m"``, ``1`` and ``"1"`` all become ``"1"``; malformed stays as is."""
    try:
        exact = parse_quantity(value)
    except ValueError:
        return value
    return _spell(exact)


def _spell(exact: Fraction) -> str:
    if exact.denominator == 1:
        return str(exact.numerator)
    for suffix, scale in (("m", 10**3), ("u", 10**6), ("n", 10**9)):
        scaled = exact * scale
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    return f"{exact.numerator}/{exact.denominator}"
