"""Binding a server's port, with an error a user can act on.

Every kubelite process serves something on a port (gateway API, controller-
manager status, agent API). When that port is taken (a second controller-
manager on its default 10257) or not ours to use, the process must say which
address failed and which flag changes it, in one line, and exit non-zero —
never a traceback.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # aiohttp only for start_site: split_host_port and ListenError are for any server
    from aiohttp import web


class ListenError(Exception):
    """A server could not listen; ``str()`` is the one line to print."""

    def __init__(self, *, what: str, host: str, port: int, flag: str, cause: OSError | OverflowError) -> None:
        code = cause.errno if isinstance(cause, OSError) else None
        reason = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied",
                  errno.EADDRNOTAVAIL: "not an address of this host"}.get(
            code or 0, ((cause.strerror if isinstance(cause, OSError) else None) or str(cause)).rstrip("."))
        hint = f" (another {what} running?)" if code == errno.EADDRINUSE else ""
        super().__init__(f"{what} cannot listen on {host}:{port}: {reason}{hint}; "
                         f"choose another address with {flag} HOST:PORT (port 0: any free port)")


async def start_site(runner: web.AppRunner, host: str, port: int, *, what: str, flag: str,
                     site: web.BaseSite | None = None, **site_options: object) -> web.BaseSite:
    """``web.TCPSite(runner, host, port).start()`` (or the given ``site`` serving ``host:port``);
    a bind failure raises ListenError."""
    from aiohttp import web  # the caller has it already (its runner)

    site = site or web.TCPSite(runner, host, port, **site_options)  # type: ignore[arg-type]
    try:
        await site.start()
    except (OSError, OverflowError) as exc:  # OverflowError: a port above 65535
        raise ListenError(what=what, host=host, port=port, flag=flag, cause=exc) from None
    return site


def split_host_port(address: str, *, flag: str, default_host: str | None = None) -> tuple[str, int]:
    """``"host:port"`` (``[::1]:port`` too) as ``(host, port)``; port 0 means any free port.

    Raises ValueError with the one line to print, naming ``flag``, for anything else
    (no port, a non-numeric port, a port above 65535). An empty host is ``default_host``
    when given, an error otherwise.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or (default_host or "")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{flag} must be HOST:PORT with a port from 0 to 65535 (0: any free port), "
                         f"not {address!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether a host (``localhost``, an IPv4 or IPv6 literal, bracketed, scoped or IPv4-mapped)
    is a loopback address."""
    host = host.strip("[]").split("%", 1)[0]
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
