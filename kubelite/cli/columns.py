"""Client-side Tables, for when the gateway answers a list instead of a Table
(``as=Table`` not supported) and for watch events carrying plain objects.

The columns and cells are the gateway's: kubectl's printers have one home,
:mod:`kubelite.registry.printers`, below both the gateway and kl. Pure: objects and a
clock reading in, a Table out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubelite.registry import printers

Obj = dict[str, Any]


def event_time(event: Obj) -> Any:
    """When an event last happened (its sort key in ``kl get events`` and ``kl describe``)."""
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp"))


def build_table(kind: str, items: list[Obj], now: datetime) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``items`` with kubectl's columns for ``kind``."""
    return printers.build_table(kind, items, now=now)
