"""How every long-running component runs, and what it does once it has started.

:func:`run_component`: ``asyncio.run`` of its main coroutine, where Ctrl-C ends it quietly and an
error a user can cause (a port taken, etcd unreachable) is one ``error:`` line and exit status 1,
never a traceback.

:func:`settle_heap`: ``gc.freeze()`` after start-up. What a component builds while starting —
imported modules, the schema, protobuf and OpenAPI tables, the first informer caches — lives as
long as the process. Left in the collector's generations, each full collection walks all of it:
measured in the gateway, a 60k-object walk took 40–130 ms, and those pauses were the p99 of watch
delivery (issue 12). Frozen objects are still freed by reference counting; only cycles among them
would stay, and start-up makes none that matter. (Python's own advice for forking servers, used
the same way by long-running services.)

The collector's thresholds then rise from CPython's (700, 10, 10) to :data:`COLLECTOR_THRESHOLDS`.
A component's live data grows at run time too (informer caches, the scheduler's node table), and
each time it grows by a quarter CPython walks all of it in a full collection. Measured with
``gc.callbacks`` in a 1,000-pod ``kl up`` deployment (bench/bench_kl_up_deploy.py): the control
plane spent 1.35 s of CPU collecting (11 full collections that freed 14 objects in all; an
informer's pod decode took 350 µs instead of 45), the sim agents 0.9 s. With these thresholds:
0.36 s and 0.28 s. Young cycles are still freed, after 50,000 allocations instead of 700.

Then ``malloc_trim(0)`` (glibc): start-up's transient peaks (reading the schema and protobuf
tables, informer lists) leave freed C-heap pages that glibc keeps for reuse; trimming returns
them to the system, 1–3 MB of RSS per idle process measured (issue 12's idle footprint). A no-op
where the C library has no ``malloc_trim`` (musl, macOS).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import sys
from collections.abc import Coroutine
from typing import Any


def run_component(main: Coroutine[Any, Any, None], user_errors: tuple[type[BaseException], ...]) -> int:
    """Run ``main`` to its end: 0 when it returns or on Ctrl-C, 1 after printing ``error: <exc>`` on
    stderr for one of ``user_errors``; anything else propagates."""
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(main)
        except user_errors as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


# (generation 0 allocations, generation 1 and 2 collection counts): see the module docstring
COLLECTOR_THRESHOLDS = (50_000, 20, 20)


def settle_heap() -> None:
    """Collect once, move every surviving object out of the collector's reach, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    _malloc_trim()


def _malloc_trim() -> None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: the C library it runs on
    except (OSError, AttributeError):
        return
    trim(0)
