"""Start-up objects leave the collector's generations, and are still freed by reference counting;
the C heap's freed pages go back to the system."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from kubelite.util.process import COLLECTOR_THRESHOLDS, settle_heap


class _Thing:
    pass


def test_settle_heap_freezes_what_exists_and_refcounting_still_frees_it() -> None:
    survivor = _Thing()
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        tracked = {id(o) for o in gc.get_objects()}
        assert id(survivor) not in tracked  # out of every generation
        ref = weakref.ref(survivor)
        del survivor
        assert ref() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_after_settle_heap_the_collector_runs_less_often_and_still_frees_cycles() -> None:
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert COLLECTOR_THRESHOLDS[0] > thresholds[0]
        collections = gc.get_stats()[0]["collections"]
        cycle = _Thing()
        cycle.self = cycle  # type: ignore[attr-defined]
        ref = weakref.ref(cycle)
        del cycle
        kept = [[] for _ in range(COLLECTOR_THRESHOLDS[0] // 2)]  # tracked allocations, below the threshold
        assert ref() is not None and gc.get_stats()[0]["collections"] == collections
        kept += [[] for _ in range(COLLECTOR_THRESHOLDS[0])]  # past it: a young collection frees the cycle
        assert ref() is None
        assert gc.get_stats()[0]["collections"] > collections
        assert len(kept) == COLLECTOR_THRESHOLDS[0] * 3 // 2
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _rss_anon_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_settle_heap_returns_freed_c_heap_pages() -> None:
    blocks = [bytes(20_000) for _ in range(2_000)]  # ~40 MB from malloc's heap (below its mmap threshold)
    pin = bytes(20_000)  # allocated last: keeps the heap's top in use, so free() alone cannot shrink it
    del blocks
    before = _rss_anon_kib()
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        after = _rss_anon_kib()
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert before - after > 20_000, (before, after)  # KiB: the freed middle of the heap went back
    assert len(pin) == 20_000
