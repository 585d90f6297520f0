"""JSON in and out of etcd and onto the wire: one home for the encoder and decoder.

Library: ``orjson`` (well kept, widely used, a Rust encoder/decoder 5–10× faster than the
standard ``json`` module). A LIST of 1,000 pods is two thirds JSON work, so this is where the
gateway's and informers' time goes (issue 12). Where orjson differs from Go's ``encoding/json``
(which kube-apiserver writes with) this module makes up the difference:

- Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 (HTML safety): :func:`dumps_go` does too.
- orjson refuses integers beyond 64 bits, which no stored object holds (schema ranges are checked
  before a write): such a document falls back to the standard encoder, never an error.

Not for request bodies: orjson reads integers beyond 64 bits as floats, so a user's
``replicas: 1e30``-sized integer must be read by :mod:`kubelite.api.parse` (standard ``json``),
which keeps it exact for the range check that refuses it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Go's encoding/json escapes these; kube-apiserver's bodies carry the escaped form
_GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))
_GO_SEPARATORS = (("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))


def loads(data: bytes | str) -> Any:
    """A JSON text (our own stored or produced data) → Python values."""
    return orjson.loads(data)


def dumps(doc: Any) -> bytes:
    """Compact JSON, keys in insertion order, non-ASCII as UTF-8."""
    try:
        return orjson.dumps(doc)
    except TypeError:  # an integer beyond 64 bits (or a type orjson has no rule for)
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_go(doc: Any) -> bytes:
    """Compact JSON as Go's ``json.Encoder`` writes it, without its trailing newline."""
    return escape_go(dumps(doc))


def escape_go(data: bytes) -> bytes:
    """JSON bytes with Go's escapes applied (they only occur inside strings, so this is safe on
    a whole document). Single-byte searches are memchr-fast; the 3-byte separators are only
    looked for when their lead byte occurs (a LIST of 1,000 pods is 3 MB)."""
    for raw, escaped in _GO_ESCAPES:
        if raw in data:
            data = data.replace(raw, escaped)
    if b"\xe2" in data:
        for raw, escaped in _GO_SEPARATORS:
            if raw in data:
                data = data.replace(raw, escaped)
    return data
