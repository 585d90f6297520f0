"""Spreading periodic work: the waits are jittered like apimachinery's wait.Jitter."""

from __future__ import annotations

from kubelite.util.jitter import first_phase, jittered


def test_jitter_stretches_the_period_by_at_most_the_factor() -> None:
    assert jittered(20.0, 0.04, rand=lambda: 0.0) == 20.0
    assert jittered(20.0, 0.04, rand=lambda: 0.5) == 20.4
    assert jittered(20.0, 0.04, rand=lambda: 0.999) < 20.8


def test_first_phase_spreads_over_the_upper_part_of_the_period() -> None:
    assert first_phase(10.0, rand=lambda: 0.0) == 5.0
    assert first_phase(10.0, rand=lambda: 0.5) == 7.5
    assert first_phase(10.0, low=0.0, rand=lambda: 0.25) == 2.5
    assert first_phase(10.0, rand=lambda: 0.999) < 10.0
