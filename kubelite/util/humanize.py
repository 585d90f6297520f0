"""Times as people read them: Kubernetes' ages (``5m30s``) and API timestamps.

:func:`parse_time` remembers the last 4,096 distinct strings of up to 40 characters it parsed (a
few hundred KB at most):
a Table of pods parses every pod's creationTimestamp on every ``kubectl get``, and those strings
repeat from one list (and watch event) to the next.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from kubelite.util import clock


def parse_time(value: Any) -> datetime | None:
    """An API timestamp (RFC 3339) as an aware ``datetime``; None when ``value`` is not one."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) > _CACHED_LENGTH:  # not an API server's timestamp (a custom resource's date column): not kept
        return _parse.__wrapped__(value)
    return _parse(value)


_CACHED_LENGTH = 40  # "2026-12-02T09:30:15.123456789+05:30" and shorter: what the cache may hold


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> datetime | None:
    # the same answer for the same string: the cache cannot change a result (datetimes are immutable)
    try:
        return clock.parse_time(text)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: 45s, 5m30s, 3h, 2d4h, 3y."""
    secs = int(round(seconds))
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"
