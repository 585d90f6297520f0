"""Kubernetes resource quantities (``100m``, ``0.5``, ``128Mi``, ``1G``, ``2e3``).

Parsed exactly (``Fraction``) so that ``0.1`` cpu is 100 millicores, not
99.999…; cpu is then counted in millicores and memory in bytes, rounding up
as Kubernetes does (``MilliValue``/``Value``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from functools import lru_cache
from typing import Any

Quantity = str | int | float
"""How a quantity appears in a manifest: YAML may give ``cpu: 1`` or ``cpu: 0.5``."""

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)")
# Kubernetes caps exponents too; without a cap "1e999999999" would take forever.
_MAX_EXPONENT = 100


def _text(value: Quantity) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"quantity must be a string or a number, not {type(value).__name__}")
    return value if isinstance(value, str) else repr(value)


# Memoized by text (the results are immutable, a cluster uses few distinct quantities, and the
# scheduler reads every pod's and node's: ~20 µs each to parse). Errors are raised, never cached.
@lru_cache(maxsize=4096)
def _exact(text: str) -> Fraction:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a valid quantity (e.g. '100m', '0.5', '128Mi', '1G', '2e3')")
    number, exponent, suffix = match.groups()
    if exponent is not None:
        power = int(exponent[1:])
        if abs(power) > _MAX_EXPONENT:
            raise ValueError(f"quantity {text!r} is out of range")
        return Fraction(number) * Fraction(10) ** power
    if suffix in _BINARY:
        return Fraction(number) * _BINARY[suffix]
    return Fraction(number) * _DECIMAL[suffix or ""]


@lru_cache(maxsize=4096)
def _millis(text: str) -> int:
    return math.ceil(_exact(text) * 1000)


@lru_cache(maxsize=4096)
def _bytes(text: str) -> int:
    return math.ceil(_exact(text))


def parse_quantity(value: Quantity) -> Fraction:
    """The exact value of a quantity; ValueError names the malformed input."""
    return _exact(_text(value))


def cpu_millis(value: Quantity) -> int:
    """CPU in millicores, rounded up (``0.0001`` → 1m), as the scheduler counts it."""
    return _millis(_text(value))


def to_bytes(value: Quantity) -> int:
    """Memory (or storage) in bytes, rounded up."""
    return _bytes(_text(value))


def format_cpu_millis(millis: int) -> str:
    """``1500`` → ``"1500m"``, ``2000`` → ``"2"``: the shortest exact form."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(count: int) -> str:
    """``134217728`` → ``"128Mi"``: the largest binary suffix that divides exactly."""
    for suffix, size in reversed(_BINARY.items()):
        if count != 0 and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def format_nano_cores(nano: int) -> str:
    """A CPU quantity in its shortest exact decimal form: ``1500000000`` → ``"1500m"``, ``12`` → ``"12n"``."""
    for suffix, size in (("", 10**9), ("m", 10**6), ("u", 10**3)):
        if nano % size == 0:
            return f"{nano // size}{suffix}"
    return f"{nano}n"


# -- kube's serialised form (Quantity.String()) ----------------------------------------------------------

_BINARY_SUFFIX = re.compile(r"[0-9.](Ki|Mi|Gi|Ti|Pi|Ei)$")
_DECIMAL_SUFFIXES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def quantity_format(text: Any) -> str:
    """kube's Quantity format (BinarySI, DecimalExponent or DecimalSI), from how the quantity was written."""
    if isinstance(text, str):
        if _BINARY_SUFFIX.search(text):
            return "BinarySI"
        if "e" in text.lower():
            return "DecimalExponent"
    return "DecimalSI"


def canonical(value: Fraction, fmt: str = "DecimalSI") -> str:
    """``Quantity.String()``: rounded up to nanos; BinarySI as the largest exact power of 1024 (decimal
    below 1024 or with a fraction), decimal forms with an exponent that is a multiple of 3."""
    nanos = math.ceil(value * 10**9)
    if nanos == 0:
        return "0"
    if fmt == "BinarySI" and abs(nanos) >= 1024 * 10**9 and nanos % 10**9 == 0:
        count, power = nanos // 10**9, 0
        while power < 6 and count % 1024 == 0:
            count, power = count // 1024, power + 1
        return f"{count}{_BINARY_SUFFIXES[power]}"
    mantissa, exponent = nanos, -9
    while mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    while exponent % 3:
        mantissa, exponent = mantissa * 10, exponent - 1
    if exponent > 18:
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    if fmt == "DecimalExponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIXES[exponent]}"


def canonicalize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each quantity as kube serialises it (``1024Mi`` → ``1Gi``); one that does not parse is kept as written."""
    result: dict[str, Any] = {}
    for name, q in values.items():
        try:
            result[name] = canonical(parse_quantity(q), quantity_format(q))
        except (ValueError, TypeError):
            result[name] = q
    return result
