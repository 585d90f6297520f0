"""The Table bytes kubectl gets do not change when the printers get faster.

tests/unit/printers_golden.json holds pod (and a few other kinds') documents and the response
bodies the printers of main at fe47726 rendered for them (tests/unit/printer_golden_corpus.py wrote
it once, from that code). Every case is rendered again by today's code and compared byte for byte.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.printer_golden_corpus import FIXTURE, render_cases
from kubelite.util.humanize import human_duration

GOLDEN: dict[str, Any] = json.loads(FIXTURE.read_text())


def test_every_table_body_is_byte_identical_to_the_golden_one() -> None:
    rendered = render_cases(GOLDEN["corpus"])
    assert rendered.keys() == GOLDEN["cases"].keys()
    differing = [name for name, body in rendered.items() if body != GOLDEN["cases"][name]]
    assert not differing, f"{len(differing)} cases differ, first {differing[0]}"


def test_rendering_again_gives_the_same_bytes() -> None:
    """Whatever a printer remembers between calls (caches) must not show in a second rendering."""
    docs = GOLDEN["corpus"]
    assert render_cases(docs) == render_cases(docs) == GOLDEN["cases"]


@pytest.mark.parametrize(("seconds", "text"), GOLDEN["human_duration"])
def test_human_duration_is_unchanged(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_pod_rows_do_not_change_the_documents() -> None:
    from kubelite.registry.printers import build_table

    docs = json.loads(json.dumps(GOLDEN["corpus"]["Pod"]))
    build_table("Pod", docs, now=datetime(2026, 11, 30, 12, tzinfo=UTC), include_object="Object")
    assert docs == GOLDEN["corpus"]["Pod"]


def test_parse_time_keeps_only_timestamp_sized_strings() -> None:
    from kubelite.util import humanize

    humanize._parse.cache_clear()
    long = "2026-11-30T12:00:00." + "1" * 5000 + "Z"  # a custom resource's date column may hold anything
    assert humanize.parse_time(long) == humanize.parse_time(long[:26] + "Z")  # parsed all the same
    assert humanize._parse.cache_info().currsize == 1  # only the short one was kept
    assert humanize.parse_time("2026-11-30T12:00:00Z") == datetime(2026, 11, 30, 12, tzinfo=UTC)
