"""Start-up objects leave the collector's generations, and are still freed by reference counting;
the C heap's freed pages go back to the system."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from kubelite.util.process import settle_heap


class _Thing:
    pass


def test_settle_heap_freezes_what_exists_and_refcounting_still_frees_it() -> None:
    survivor = _Thing()
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
    try:
        settle_heap()
        after = _rss_anon_kib()
    finally:
        gc.unfreeze()
    assert before - after > 20_000, (before, after)  # KiB: the freed middle of the heap went back
    assert len(pin) == 20_000
