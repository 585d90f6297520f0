"""wait_for_sync: the synchronous wait_for (sync fixtures, Playwright's sync API)."""

from __future__ import annotations

import itertools

import pytest

from kubelite.testing.waiting import wait_for_sync


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert wait_for_sync(lambda: next(calls) >= 3 and "ready", 5, 0.01) == "ready"


def test_times_out_naming_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.05 s waiting for the thing \(last value: 0\)"):
        wait_for_sync(lambda: 0, 0.05, 0.01, message="the thing")
