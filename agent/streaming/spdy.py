"""SPDY/3.1 framing, sans I/O: the frames kubectl's port-forward speaks (moby/spdystream on its side).

kubectl ≥ 1.31 tunnels a SPDY/3.1 connection through a WebSocket (``SPDY/3.1+portforward.k8s.io``);
the kubelet end is a SPDY server. No maintained Python SPDY library exists (PyPI's ``spdy-py`` is an
unmaintained 2021 draft), and the part needed is small: frame headers, the header block (zlib with
the protocol's dictionary, one compression context per direction for the whole connection) and the
eight control frame types. Flow control is not enforced, as spdystream enforces none either
(WINDOW_UPDATE is parsed and ignored); back-pressure comes from the transport underneath.

``SpdyCodec.feed(bytes)`` → complete frames; ``SpdyCodec.encode(frame)`` → bytes. Frame layout
(draft-mbelshe-httpbis-spdy-00): control frames ``1|version(15) type(16) flags(8) length(24)``, data
frames ``0|stream-id(31) flags(8) length(24)``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_FRAME = (1 << 24) - 1
MAX_HEADER_BLOCK = 64 << 10  # decompressed; kubectl's blocks are a few dozen bytes

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5

_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
    "age allow authorization cache-control connection content-base content-encoding content-language "
    "content-length content-location content-md5 content-range content-type date etag expect expires from "
    "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
).split() + ["200 OK"] + "version HTTP/1.1 url public set-cookie keep-alive origin".split()
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(len(w).to_bytes(4, "big") + w.encode() for w in _WORDS) + _TAIL.encode()
"""The SPDY/3 header compression dictionary (the spec's; 1,423 bytes)."""


class SpdyError(Exception):
    """The peer sent something that is not SPDY/3.1 (the connection cannot go on)."""


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: dict[str, str]
    fin: bool = False
    unidirectional: bool = False
    associated_id: int = 0
    priority: int = 0


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: dict[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: dict[str, str]
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    values: dict[int, int]


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


Frame = SynStream | SynReply | Headers | RstStream | Settings | Ping | GoAway | WindowUpdate | Data


class SpdyCodec:
    """One end of a SPDY/3.1 connection: parses what arrives, encodes what leaves."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    # -- reading -------------------------------------------------------------

    def feed(self, data: bytes) -> list[Frame]:
        """Append received bytes; return every frame now complete (in order)."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, body = bytes(self._buffer[:8]), bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            parsed = self._parse(head, body)
            if parsed is not None:
                frames.append(parsed)
        return frames

    def _parse(self, head: bytes, body: bytes) -> Frame | None:
        first, flags = struct.unpack(">IB", head[:5])
        if not first & 0x80000000:
            return Data(first & 0x7FFFFFFF, body, bool(flags & FLAG_FIN))
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"SPDY version {version} is not supported (only 3)")
        fin = bool(flags & FLAG_FIN)
        try:
            if kind == SYN_STREAM:
                stream_id, associated, priority = struct.unpack(">IIB", body[:9])
                return SynStream(stream_id & 0x7FFFFFFF, self._headers(body[10:]), fin,
                                 bool(flags & FLAG_UNIDIRECTIONAL), associated & 0x7FFFFFFF, priority >> 5)
            if kind in (SYN_REPLY, HEADERS):
                (stream_id,) = struct.unpack(">I", body[:4])
                cls = SynReply if kind == SYN_REPLY else Headers
                return cls(stream_id & 0x7FFFFFFF, self._headers(body[4:]), fin)
            if kind == RST_STREAM:
                stream_id, status = struct.unpack(">II", body[:8])
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == SETTINGS:
                (count,) = struct.unpack(">I", body[:4])
                entries = [struct.unpack(">II", body[4 + 8 * i:12 + 8 * i]) for i in range(count)]
                return Settings({flag_id & 0xFFFFFF: value for flag_id, value in entries})
            if kind == PING:
                return Ping(struct.unpack(">I", body[:4])[0])
            if kind == GOAWAY:
                last, status = struct.unpack(">II", body[:8])
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                stream_id, delta = struct.unpack(">II", body[:8])
                return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error:
            raise SpdyError(f"truncated SPDY control frame of type {kind}") from None
        return None  # unknown control frames are ignored (the spec says so)

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise SpdyError(f"bad SPDY header block: {exc}") from None
        if self._inflate.unconsumed_tail:
            raise SpdyError(f"SPDY header block larger than {MAX_HEADER_BLOCK} bytes")
        headers: dict[str, str] = {}
        try:
            (count,) = struct.unpack(">I", raw[:4])
            at = 4
            for _ in range(count):
                (n,) = struct.unpack(">I", raw[at:at + 4])
                name = raw[at + 4:at + 4 + n].decode().lower()
                at += 4 + n
                (n,) = struct.unpack(">I", raw[at:at + 4])
                headers[name] = raw[at + 4:at + 4 + n].decode()
                at += 4 + n
        except (struct.error, UnicodeDecodeError):
            raise SpdyError("malformed SPDY header block") from None
        return headers

    # -- writing -------------------------------------------------------------

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, Data):
            if len(frame.data) > MAX_FRAME:
                raise ValueError(f"a data frame carries at most {MAX_FRAME} bytes")
            return struct.pack(">IB", frame.stream_id & 0x7FFFFFFF, FLAG_FIN if frame.fin else 0) \
                + len(frame.data).to_bytes(3, "big") + frame.data
        if isinstance(frame, SynStream):
            flags = (FLAG_FIN if frame.fin else 0) | (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
            body = struct.pack(">IIBB", frame.stream_id, frame.associated_id, frame.priority << 5, 0) \
                + self._block(frame.headers)
            return self._control(SYN_STREAM, flags, body)
        if isinstance(frame, (SynReply, Headers)):
            kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
            return self._control(kind, FLAG_FIN if frame.fin else 0,
                                 struct.pack(">I", frame.stream_id) + self._block(frame.headers))
        if isinstance(frame, RstStream):
            return self._control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, Settings):
            body = struct.pack(">I", len(frame.values)) + b"".join(
                struct.pack(">II", key, value) for key, value in frame.values.items())
            return self._control(SETTINGS, 0, body)
        if isinstance(frame, Ping):
            return self._control(PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAway):
            return self._control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id, frame.status))
        if isinstance(frame, WindowUpdate):
            return self._control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta))
        raise TypeError(f"not a SPDY frame: {frame!r}")

    def _control(self, kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHB", 0x8000 | VERSION, kind, flags) + len(body).to_bytes(3, "big") + body

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            n, v = name.lower().encode(), value.encode()
            raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
