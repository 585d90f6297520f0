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


def settle_heap() -> None:
    """Collect once, then move every surviving object out of the collector's reach."""
    gc.collect()
    gc.freeze()
    _malloc_trim()


def _malloc_trim() -> None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: the C library it runs on
    except (OSError, AttributeError):
        return
    trim(0)
