"""Binding a server's port, with an error a user can act on.

Every kubelite process serves something on a port (gateway API, controller-
manager status, agent API). When that port is taken (a second controller-
manager on its default 10257) or not ours to use, the process must say which
address failed and which flag changes it, in one line, and exit non-zero —
never a traceback.
"""

from __future__ import annotations

import errno

from aiohttp import web


class ListenError(Exception):
    """A server could not listen; ``str()`` is the one line to print."""

    def __init__(self, *, what: str, host: str, port: int, flag: str, cause: OSError) -> None:
        reason = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied",
                  errno.EADDRNOTAVAIL: "not an address of this host"}.get(cause.errno or 0,
                                                                          cause.strerror or str(cause))
        hint = f" (another {what} running?)" if cause.errno == errno.EADDRINUSE else ""
        super().__init__(f"{what} cannot listen on {host}:{port}: {reason}{hint}; "
                         f"choose another address with {flag} HOST:PORT (port 0: any free port)")


async def start_site(runner: web.AppRunner, host: str, port: int, *, what: str, flag: str,
                     **site_options: object) -> web.TCPSite:
    """``web.TCPSite(runner, host, port).start()``; a bind failure raises ListenError."""
    site = web.TCPSite(runner, host, port, **site_options)  # type: ignore[arg-type]
    try:
        await site.start()
    except OSError as exc:
        raise ListenError(what=what, host=host, port=port, flag=flag, cause=exc) from None
    return site
