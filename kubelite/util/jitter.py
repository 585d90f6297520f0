"""Spread periodic work of many peers over time, so that they do not thunder.

A thousand simulated nodes started in the same second would otherwise renew
their leases and post their status in the same instants, period after period.
Like apimachinery's ``wait.Jitter`` (used by the kubelet's node-status loop and
its lease controller with a factor of 0.04), each wait is stretched by a random
fraction; the first wait of a loop gets a random phase as well, which spreads
peers that started together over the whole period at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def jittered(period: float, factor: float, rand: Callable[[], float] = random.random) -> float:
    """``period * (1 + factor * u)``, u uniform in [0, 1): seconds (never shorter than ``period``)."""
    return period * (1.0 + factor * rand())


def first_phase(period: float, low: float = 0.5, rand: Callable[[], float] = random.random) -> float:
    """A first wait uniform in [``low`` × period, period): seconds; peers started together drift apart."""
    return period * (low + (1.0 - low) * rand())
