"""The CRI container log format, one line per record (kubernetes/pkg/kubelet/kuberuntime/logs):

    <RFC 3339 time with nanoseconds, UTC> <stdout|stderr> <F|P> <text>\\n

``F`` ends a line, ``P`` is a part of a longer one. The per-container supervisor writes it
(``supervisor.py``, stdlib only, shares ``format_line`` by loading this file), the runtime reads it.
"""

from __future__ import annotations

from kubelite.util import clock

STAMP_LENGTH = len("2026-01-01T00:00:00.000000000Z")
MAX_LINE = 16 * 1024  # longer lines are split into P records (containerd's default buffer)


def rfc3339_nano(ns: int | None = None) -> str:
    """``2026-11-30T23:30:00.123456789Z`` for a time in ns since the epoch (now when None)."""
    ns = clock.wall_ns() if ns is None else ns
    return clock.format_nano_time(ns)


def format_records(stream: str, data: bytes, ns: int | None = None) -> bytes:
    """CRI records for one chunk ``data`` that ends a line (or the stream) of ``stream``."""
    stamp = rfc3339_nano(ns).encode()
    text = data[:-1] if data.endswith(b"\n") else data
    out = []
    while len(text) > MAX_LINE:
        out.append(b"%s %s P %s\n" % (stamp, stream.encode(), text[:MAX_LINE]))
        text = text[MAX_LINE:]
    out.append(b"%s %s F %s\n" % (stamp, stream.encode(), text))
    return b"".join(out)


def format_chunk(stream: str, data: bytes, ns: int | None = None) -> bytes:
    """CRI records for any bytes of ``stream`` (a terminal's output): ``F`` for each line they end,
    ``P`` for what follows the last newline (it joins the next record's text)."""
    out = []
    *lines, rest = data.split(b"\n")
    for line in lines:
        out.append(format_records(stream, line + b"\n", ns))
    if rest:
        stamp = rfc3339_nano(ns).encode()
        for start in range(0, len(rest), MAX_LINE):
            out.append(b"%s %s P %s\n" % (stamp, stream.encode(), rest[start:start + MAX_LINE]))
    return b"".join(out)


def parse_record(line: bytes) -> tuple[bytes, str, bool, bytes] | None:
    """(timestamp, stream, full, text) of one record without its newline; None when malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P") \
            or len(parts[0]) != STAMP_LENGTH or parts[0][4:5] != b"-":  # also rejects a record's tail
        return None
    return parts[0], parts[1].decode(), parts[2] == b"F", parts[3] if len(parts) == 4 else b""


def render(records: list[bytes], *, timestamps: bool) -> list[bytes]:
    """Records (without newlines) → the lines ``kubectl logs`` shows (P parts joined), as Docker gives
    them: ``<text>\\n`` or ``<timestamp> <text>\\n``."""
    lines: list[bytes] = []
    pending = b""
    for record in records:
        parsed = parse_record(record)
        if parsed is None:
            continue
        stamp, _, full, text = parsed
        pending += text
        if full:
            lines.append((stamp + b" " + pending if timestamps else pending) + b"\n")
            pending = b""
    return lines


def render_streams(records: list[bytes]) -> list[tuple[int, bytes]]:
    """Records → ``(1 | 2, line)`` per whole line (stdout 1, stderr 2), for ``pods/attach``."""
    out: list[tuple[int, bytes]] = []
    pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    for record in records:
        parsed = parse_record(record)
        if parsed is None:
            continue
        _, stream, full, text = parsed
        pending[stream] += text
        if full:
            out.append((1 if stream == "stdout" else 2, pending[stream] + b"\n"))
            pending[stream] = b""
    return out
