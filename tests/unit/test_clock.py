"""kubelite.util.clock: the real clock's shapes, FakeClock, and components reading time through it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography import x509

from agent.backoff import Backoff
from kubelite.api.core import Namespace
from kubelite.api.meta import ObjectMeta
from kubelite.api.resources import NAMESPACES
from kubelite.auth import pki
from kubelite.storage.memstore import MemStore
from kubelite.util import clock
from kubelite.util.clock import FakeClock

START = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def test_real_clock_reads_the_system_clock_in_utc() -> None:
    before = time.time()
    now, wall, wall_ns = clock.now(), clock.wall(), clock.wall_ns()
    after = time.time()
    assert now.tzinfo is UTC and before - 1e-3 <= now.timestamp() <= after + 1e-3
    assert before <= wall <= after and before - 1e-3 <= wall_ns / 1e9 <= after + 1e-3
    assert clock.now_seconds().microsecond == 0 and clock.now_seconds().tzinfo is UTC
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_wire_formats_keep_metav1_precision() -> None:
    assert clock.format_time(START) == "2026-03-04T05:06:07Z"
    assert clock.format_micro_time(START) == "2026-03-04T05:06:07.890123Z"
    plus_two = START.astimezone(timezone(timedelta(hours=2)))
    assert clock.format_time(plus_two) == "2026-03-04T05:06:07Z"  # always rendered in UTC


def test_other_wire_forms_and_parsing_round_trip() -> None:
    assert clock.format_nano_time(1772600767_000000042) == "2026-03-04T05:06:07.000000042Z"  # CRI log stamp
    plus_one = START.astimezone(timezone(timedelta(hours=1)))
    assert clock.format_time_in_zone(plus_one) == "2026-03-04T06:06:07+01:00"  # Go's RFC3339 in its zone
    assert clock.format_time_in_zone(START) == "2026-03-04T05:06:07Z"
    with pytest.raises(ValueError):
        clock.format_time_in_zone(datetime(2026, 1, 1))
    for text in (clock.format_time(START), clock.format_micro_time(START), clock.format_time_in_zone(plus_one)):
        assert clock.parse_time(text).tzinfo is not None
    assert clock.parse_time(clock.format_micro_time(START)) == START
    assert clock.parse_time("2026-03-04T05:06:07.890123456Z") == START  # nanoseconds cut to micro
    assert clock.parse_time("2026-03-04T05:06:07") == START.replace(microsecond=0)  # no zone: UTC
    with pytest.raises(ValueError):
        clock.parse_time("yesterday")


def test_deadline_runs_on_the_monotonic_clock() -> None:
    fake = FakeClock(START, monotonic_start=10.0)
    deadline = clock.Deadline(3, clock=fake.monotonic)
    assert not deadline.expired() and deadline.remaining() == 3
    fake.advance(2)
    assert not deadline.expired() and deadline.remaining() == 1
    fake.set(START + timedelta(days=1))  # a wall-clock step does not move it
    assert deadline.remaining() == 1
    fake.advance(1)
    assert deadline.expired() and deadline.remaining() == 0
    never = clock.Deadline(None, clock=fake.monotonic)
    fake.advance(1e9)
    assert not never.expired() and never.remaining() == float("inf")
    with fake.installed():  # the default reads the module clock, so an installed fake drives it
        installed = clock.Deadline(5)
        assert clock.monotonic_ns() == round(fake.monotonic() * 1e9)
        fake.advance(5)
        assert installed.expired()


def test_fake_clock_moves_only_when_told() -> None:
    fake = FakeClock(START, monotonic_start=50.0)
    assert (fake.now(), fake.monotonic()) == (START, 50.0)
    assert fake.wall() == START.timestamp() and fake.wall_ns() == 1772600767_890123000
    assert fake.now_seconds() == START.replace(microsecond=0)
    fake.advance(2.5)
    assert fake.now() == START + timedelta(seconds=2.5) and fake.monotonic() == 52.5
    fake.set(START - timedelta(hours=1))  # a wall-clock step back leaves monotonic time alone
    assert fake.now() == START - timedelta(hours=1) and fake.monotonic() == 52.5
    with pytest.raises(ValueError):
        fake.advance(-1)
    with pytest.raises(ValueError):
        fake.set(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))


def test_installed_fake_drives_the_module_functions_and_is_removed_after() -> None:
    fake = FakeClock(START, monotonic_start=7.0)
    with fake.installed():
        assert (clock.now(), clock.now_seconds(), clock.monotonic()) == (START, START.replace(microsecond=0), 7.0)
        assert clock.wall() == START.timestamp() and clock.wall_ns() == fake.wall_ns()
        inner = FakeClock(START + timedelta(days=1))
        with inner.installed():
            assert clock.now() == inner.now()
        assert clock.now() == START
    assert abs(clock.now().timestamp() - time.time()) < 5


def test_restart_backoff_expires_after_twice_the_cap_on_a_fake_clock() -> None:
    fake = FakeClock(START)
    backoff = Backoff(initial=10, cap=40, clock=fake.wall)
    assert backoff.next("c") == 10 and backoff.next("c") == 20
    crashed = fake.wall()
    fake.advance(5)
    assert backoff.remaining("c", crashed) == 15  # 20 s from the crash, 5 s of it gone
    fake.advance(81)  # more than 2 × cap since the last restart: the schedule starts over
    assert backoff.remaining("c", fake.wall()) == 0.0 and backoff.next("c") == 10


async def test_store_stamps_creation_time_from_the_installed_clock() -> None:
    fake = FakeClock(START)
    with fake.installed():
        created = await MemStore().create(NAMESPACES, Namespace(metadata=ObjectMeta(name="timed")))
    assert created.metadata.creation_timestamp == START.replace(microsecond=0)  # metav1.Time: whole seconds


def test_certificates_are_dated_by_the_installed_clock() -> None:
    with FakeClock(START).installed():
        issued = pki.new_ca("clock-test", days=1)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    assert cert.not_valid_before_utc == (START - timedelta(minutes=5)).replace(microsecond=0)
    assert cert.not_valid_after_utc == (START + timedelta(days=1)).replace(microsecond=0)
