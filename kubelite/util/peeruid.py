"""The Unix user owning the other end of a loopback TCP connection.

Linux lists every TCP socket of the network namespace in ``/proc/net/tcp`` and
``/proc/net/tcp6`` with its owner's uid (the ``uid`` column; ``ss -e`` prints the same).
For a loopback connection both ends are in the same namespace, so the client's socket is
the row whose local address is our peer and whose remote address is our own end. This is
PostgreSQL's ``ident`` authentication for local TCP, read from the kernel instead of an
ident daemon. No library covers it (psutil lists connections by process, without the
socket's uid, and scans every process), and the format is a stable kernel interface.

A row without a socket inode (the ``inode`` column 0) is a connection its process has closed
already (orphaned in FIN_WAIT or TIME_WAIT): the kernel prints uid 0 for it, whoever owned it, so it
names nobody — else any user could send a request, close at once and be taken for root.

Shapes: addresses are ``(host, port)`` as ``socket.getpeername()`` gives them (IPv6 ones may
carry flow info and scope; IPv4-mapped IPv6 addresses are compared as IPv4).
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_Address = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _parse_endpoint(text: str) -> _Address:
    """A ``/proc/net/tcp{,6}`` address: hex words of the address in host byte order, then the hex port."""
    hex_ip, _, hex_port = text.partition(":")
    words = [int(hex_ip[i:i + 8], 16) for i in range(0, len(hex_ip), 8)]
    raw = b"".join(struct.pack("=I", word) for word in words)
    ip = ipaddress.ip_address(raw)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip, int(hex_port, 16)


def owner_uid(peer: tuple[Any, ...], local: tuple[Any, ...], *, tables: tuple[Path, ...] = TABLES) -> int | None:
    """The uid of the socket at ``peer`` connected to our socket at ``local``; None when no such
    socket is listed (not a local connection, or its process closed it meanwhile)."""
    want_local = (_ip(str(peer[0])), int(peer[1]))
    want_remote = (_ip(str(local[0])), int(local[1]))
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            try:
                if (_parse_endpoint(fields[1]) == want_local and _parse_endpoint(fields[2]) == want_remote):
                    # inode 0: closed by its process, and the uid column then reads 0 whoever owned it
                    return int(fields[7]) if int(fields[9]) != 0 else None
            except ValueError:
                continue
    return None
