"""Client-side ``apply``: decide create / patch / unchanged from the manifest,
the live object and the last configuration applied (the
``kubectl.kubernetes.io/last-applied-configuration`` annotation, as kubectl
keeps it, so kl and kubectl can take turns).

The patch is a three-way JSON merge patch (RFC 7386):
* fields the manifest sets that differ from the live object are set;
* fields the previous manifest set and this one dropped are removed (null);
* fields nobody applied (server defaults, status, other writers) are left alone.
A list is sent whole when it differs, and "differs" ignores fields the server
added to its elements (defaults) and, as Kubernetes does, tells no empty value
(``{}``, ``[]``, ``null``) from an absent one, so re-applying the same file is
"unchanged" however the server or another client spelled the object.
Pure functions, no I/O.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Literal

from kubelite.api.rollout_annotations import LAST_APPLIED
from kubelite.api.semantic import is_nothing

_MISSING = object()


def strip_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the last-applied annotation (and no empty annotations)."""
    result = copy.deepcopy(obj)
    meta = result.get("metadata") or {}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        del annotations[LAST_APPLIED]
        if not annotations:
            del meta["annotations"]
    return result


def encode_last_applied(config: dict[str, Any]) -> str:
    return json.dumps(strip_last_applied(config), sort_keys=True, separators=(",", ":")) + "\n"


def read_last_applied(live: dict[str, Any]) -> dict[str, Any] | None:
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def with_last_applied(config: dict[str, Any], encoded: str | None = None) -> dict[str, Any]:
    """``config`` carrying its own last-applied annotation."""
    result = strip_last_applied(config)
    meta = result.setdefault("metadata", {})
    meta.setdefault("annotations", {})[LAST_APPLIED] = encoded or encode_last_applied(config)
    return result


def contains(current: Any, wanted: Any) -> bool:
    """Whether ``current`` already has everything ``wanted`` sets (extra fields allowed; a field
    set to nothing in ``wanted`` matches an absent or empty one)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            (is_nothing(v) and is_nothing(current.get(k))) or (k in current and contains(current[k], v))
            for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (isinstance(current, list) and len(current) == len(wanted)
                and all(contains(c, w) for c, w in zip(current, wanted)))
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        return isinstance(current, (int, float)) and not isinstance(current, bool) and current == wanted
    return bool(current == wanted)


def three_way_merge_patch(original: dict[str, Any], modified: dict[str, Any],
                          current: dict[str, Any]) -> dict[str, Any]:
    """The merge patch taking ``current`` to ``modified``, deleting what ``original`` had."""
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    for key, want in modified.items():
        have = current.get(key, _MISSING)
        if want is None:
            if have is not _MISSING:
                patch[key] = None
        elif isinstance(want, dict) and isinstance(have, dict):
            before = original.get(key)
            sub = three_way_merge_patch(before if isinstance(before, dict) else {}, want, have)
            if sub:
                patch[key] = sub
        elif have is _MISSING and is_nothing(want):
            continue  # setting nothing where there is nothing
        elif have is _MISSING or not contains(have, want):
            patch[key] = copy.deepcopy(want)
    return patch


@dataclass(frozen=True)
class ApplyPlan:
    action: Literal["create", "patch", "unchanged"]
    body: dict[str, Any]  # the object to create, or the merge patch

    @property
    def verb(self) -> str:
        return {"create": "created", "patch": "configured", "unchanged": "unchanged"}[self.action]


def plan_apply(config: dict[str, Any], live: dict[str, Any] | None) -> ApplyPlan:
    """What ``apply`` must do to make ``live`` match the manifest ``config``."""
    if live is None:
        return ApplyPlan("create", with_last_applied(config))
    previous = read_last_applied(live)
    wanted = strip_last_applied(config)
    # Same configuration as last time (perhaps serialised differently, e.g. by
    # kubectl): keep the stored annotation so it is not a difference by itself.
    same_config = previous == wanted
    stored = (live.get("metadata") or {}).get("annotations", {}).get(LAST_APPLIED)
    modified = with_last_applied(config, stored if same_config else None)
    patch = three_way_merge_patch(previous or {}, modified, live)
    for key in ("apiVersion", "kind"):
        patch.pop(key, None)
    if not patch:
        return ApplyPlan("unchanged", {})
    return ApplyPlan("patch", patch)
