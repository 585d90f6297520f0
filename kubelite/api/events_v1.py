"""events.k8s.io/v1 Event ↔ core v1 Event: one stored object, two shapes.

kube-apiserver stores events once (``/registry/events/<ns>/<name>``) and serves them in both groups,
converting field by field (``pkg/apis/events/v1/conversion.go``). kubelite stores the core v1 form
(what every component writes) and converts at the store's edges for the events.k8s.io/v1 resource:

=========================  ==============================
events.k8s.io/v1           core v1
=========================  ==============================
regarding                  involvedObject
note                       message
reportingController        reportingComponent
deprecatedSource           source
deprecatedFirstTimestamp   firstTimestamp
deprecatedLastTimestamp    lastTimestamp
deprecatedCount            count
=========================  ==============================

The other fields (``eventTime``, ``series``, ``related``, ``action``, ``reason``, ``type``,
``reportingInstance``, metadata) have the same names in both.

Pure: documents in, copies out.
"""

from __future__ import annotations

from typing import Any


Doc = dict[str, Any]
API_VERSION = "events.k8s.io/v1"
CORE_API_VERSION = "v1"
# events.k8s.io/v1 name → core v1 name
RENAMED = {
    "regarding": "involvedObject", "note": "message", "reportingController": "reportingComponent",
    "deprecatedSource": "source", "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count",
}
_BACK = {core: v1 for v1, core in RENAMED.items()}


def to_core(doc: Doc) -> Doc:
    """The core v1 form of an events.k8s.io/v1 Event."""
    out = {RENAMED.get(k, k): v for k, v in doc.items()}
    if "apiVersion" in out:
        out["apiVersion"] = CORE_API_VERSION
    return out


def from_core(doc: Doc) -> Doc:
    """The events.k8s.io/v1 form of a core v1 Event (``involvedObject`` is required in core: an
    empty one reads back as no ``regarding``)."""
    out = {_BACK.get(k, k): v for k, v in doc.items()}
    if out.get("regarding") == {}:
        del out["regarding"]
    if out.get("deprecatedSource") == {}:
        del out["deprecatedSource"]
    if "apiVersion" in out:
        out["apiVersion"] = API_VERSION
    return out

