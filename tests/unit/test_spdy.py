"""SPDY/3.1 framing (agent/streaming/spdy.py): round trips through any chunking, the spec's
dictionary, and header blocks compressed in one context across frames, as spdystream does."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.streaming import spdy

ids = st.integers(1, 2**31 - 1)
names = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
headers = st.dictionaries(names, st.text(max_size=20), max_size=5)
frames = st.one_of(
    st.builds(spdy.SynStream, ids, headers, st.booleans(), st.booleans(), st.integers(0, 2**31 - 1),
              st.integers(0, 7)),
    st.builds(spdy.SynReply, ids, headers, st.booleans()),
    st.builds(spdy.Headers, ids, headers, st.booleans()),
    st.builds(spdy.RstStream, ids, st.integers(1, 11)),
    st.builds(spdy.Settings, st.dictionaries(st.integers(1, 8), st.integers(0, 2**32 - 1), max_size=3)),
    st.builds(spdy.Ping, st.integers(0, 2**32 - 1)),
    st.builds(spdy.GoAway, st.integers(0, 2**31 - 1), st.integers(0, 2)),
    st.builds(spdy.WindowUpdate, ids, st.integers(1, 2**31 - 1)),
    st.builds(spdy.Data, ids, st.binary(max_size=300), st.booleans()),
)


@given(st.lists(frames, max_size=12), st.integers(1, 64))
def test_frames_round_trip_through_any_chunking(sent: list[spdy.Frame], chunk: int) -> None:
    writer, reader = spdy.SpdyCodec(), spdy.SpdyCodec()
    wire = b"".join(writer.encode(f) for f in sent)
    received: list[spdy.Frame] = []
    for at in range(0, len(wire), chunk):
        received += reader.feed(wire[at:at + chunk])
    assert received == sent


def test_dictionary_is_the_specs() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_wire_layout_of_a_syn_stream_as_kubectl_sends_it() -> None:
    """Built by hand from the spec (Go's framer writes the same): control bit, version 3, type 1,
    flags, 24-bit length; stream ids; priority; then the zlib block with the dictionary."""
    block = (b"\x00\x00\x00\x01" + b"\x00\x00\x00\x04port" + b"\x00\x00\x00\x0280")
    deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=spdy.DICTIONARY)
    compressed = deflate.compress(block) + deflate.flush(zlib.Z_SYNC_FLUSH)
    body = b"\x00\x00\x00\x05" + b"\x00\x00\x00\x00" + b"\x00\x00" + compressed
    wire = b"\x80\x03\x00\x01" + b"\x00" + len(body).to_bytes(3, "big") + body
    assert spdy.SpdyCodec().feed(wire) == [spdy.SynStream(5, {"port": "80"})]


def test_header_compression_context_spans_frames() -> None:
    """The second block is compressed against the first (one context per direction): a reader that
    starts afresh cannot read it, the connection's reader can."""
    writer, reader = spdy.SpdyCodec(), spdy.SpdyCodec()
    first = writer.encode(spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}))
    second = writer.encode(spdy.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}))
    assert len(second) < len(first)
    assert [f.stream_id for f in reader.feed(first + second)] == [1, 3]  # type: ignore[union-attr]
    with pytest.raises(spdy.SpdyError):
        spdy.SpdyCodec().feed(second)


def test_refuses_other_versions_and_garbage() -> None:
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.SpdyCodec().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
    with pytest.raises(spdy.SpdyError):
        spdy.SpdyCodec().feed(b"\x80\x03\x00\x02\x00\x00\x00\x08\x00\x00\x00\x01garbage!")
    assert spdy.SpdyCodec().feed(b"\x80\x03\x00\x0a\x00\x00\x00\x00") == []  # unknown control type: ignored
