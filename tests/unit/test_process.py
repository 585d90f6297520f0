"""Start-up objects leave the collector's generations, and are still freed by reference counting."""

from __future__ import annotations

import gc
import weakref

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
