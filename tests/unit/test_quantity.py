from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.quantity import cpu_millis, format_bytes, format_cpu_millis, parse_quantity, to_bytes


@pytest.mark.parametrize(
    ("text", "millis"),
    [("100m", 100), ("0.5", 500), ("1", 1000), (1, 1000), (0.25, 250), ("2e3", 2_000_000), (".5", 500),
     ("0.1", 100), ("0.0001", 1), ("1500m", 1500), ("+2", 2000), ("1k", 1_000_000), ("250000u", 250),
     ("1E-3", 1)],
)
def test_cpu_millis(text: str | int | float, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "count"),
    [("1Ki", 1024), ("128Mi", 128 * 2**20), ("1G", 10**9), ("1Gi", 2**30), ("1.5Gi", 3 * 2**29), ("2e3", 2000),
     ("1E", 10**18), ("1Ei", 2**60), ("129M", 129_000_000), ("0.5", 1), (123, 123), ("1e0", 1), ("100m", 1)],
)
def test_to_bytes(text: str | int, count: int) -> None:
    assert to_bytes(text) == count


def test_parse_is_exact() -> None:
    assert parse_quantity("0.1") == Fraction(1, 10)
    assert parse_quantity("-1.5Ki") == -1536
    assert parse_quantity("1e-2") == Fraction(1, 100)


@pytest.mark.parametrize(
    "bad", ["", "abc", "1.2.3", "1Kb", "Mi", "1 Mi", "1e", "1ki", "1mi", "--1", "1e1000", ".", "1e2Mi", " 1"]
)
def test_malformed_quantities_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="quantit|out of range"):
        parse_quantity(bad)


@pytest.mark.parametrize("bad", [True, None, [1], float("inf")])
def test_non_quantity_types_are_value_errors(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_format() -> None:
    assert format_cpu_millis(1500) == "1500m"
    assert format_cpu_millis(2000) == "2"
    assert format_cpu_millis(0) == "0"
    assert format_bytes(128 * 2**20) == "128Mi"
    assert format_bytes(1000) == "1000"
    assert format_bytes(0) == "0"
    assert format_bytes(3 * 2**30) == "3Gi"


@given(st.integers(min_value=0, max_value=10**12))
def test_cpu_format_round_trips(millis: int) -> None:
    assert cpu_millis(format_cpu_millis(millis)) == millis


@given(st.integers(min_value=0, max_value=2**70))
def test_bytes_format_round_trips(count: int) -> None:
    assert to_bytes(format_bytes(count)) == count


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False, allow_infinity=False))
def test_decimal_strings_parse_exactly(value: Decimal) -> None:
    text = format(value, "f")
    assert parse_quantity(text) == Fraction(value)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["Ki", "Mi", "Gi", "k", "M", "G", "m", ""]))
def test_suffixes_scale(number: int, suffix: str) -> None:
    scale = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "m": Fraction(1, 1000),
             "": 1}[suffix]
    assert parse_quantity(f"{number}{suffix}") == number * scale
