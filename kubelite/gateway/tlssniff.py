"""One port for HTTPS and, for the cluster's local owner, plain HTTP.

``kl up`` serves HTTPS with client certificates by default (docs/security.md). Plain HTTP on the
same port stays for the Unix user who started the cluster (and root), from loopback only:
``curl http://127.0.0.1:8080/api/v1/pods``, ``kubectl --server=http://127.0.0.1:8080`` and scripts
keep working for the one person who could read the admin kubeconfig anyway (its data dir is 0700),
and nobody else gets in without a certificate. The gateway authenticates such a request by the
uid owning the client's socket (:mod:`kubelite.util.peeruid`, in
:func:`kubelite.gateway.authz.authenticate`).

How: this site accepts connections itself and peeks at the first byte without consuming it
(``MSG_PEEK``). A TLS connection starts with a handshake record (content type 22, 0x16), which no
HTTP request line does; the socket is then handed to aiohttp's server with or without the TLS
context (``loop.connect_accepted_socket``). A plain request that may not be served here gets Go's
answer to plain HTTP on a TLS port, as kube-apiserver gives it: ``400 Client sent an HTTP request
to an HTTPS server.``. A client that sends nothing within the header timeout is dropped, as
aiohttp's keep-alive timer would.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import weakref

from aiohttp import web

from kubelite.util.listen import is_loopback
from kubelite.util.peeruid import owner_uid

log = logging.getLogger("kubelite.gateway")

TLS_HANDSHAKE = 0x16
PLAIN_ON_TLS_PORT = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"


class SniffingSite(web.BaseSite):
    """An aiohttp site serving TLS and, when ``plain_loopback``, plain HTTP from loopback peers on
    one listening socket (``host``, ``port``; port 0 picks a free one, see :attr:`port`)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, ssl_context: ssl.SSLContext,
                 plain_loopback: bool, first_byte_timeout: float, backlog: int = 128) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port = host, port
        self._plain_loopback = plain_loopback
        self._first_byte_timeout = first_byte_timeout
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1]) if self._listener is not None else self._port

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listener = socket.create_server((self._host, self._port), family=family, backlog=self._backlog)
        listener.setblocking(False)
        self._listener = listener
        await super().start()
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop(), name=f"accept {self.name}")

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*(t for t in (self._accepting, *self._pending) if t is not None), return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
        self._runner._unreg_site(self)  # noqa: SLF001 - BaseSite.stop does this for its own servers

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            try:
                conn, _ = await loop.sock_accept(self._listener)
            except OSError as exc:  # EMFILE and the like: the listener stays; back off a little
                log.warning("accepting a connection on %s failed: %s", self.name, exc)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            task = loop.create_task(self._serve(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _serve(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            first = await _peek(loop, conn, self._first_byte_timeout)
            if not first:
                conn.close()
                return
            server = self._runner.server
            assert server is not None
            if first[0] == TLS_HANDSHAKE:
                await loop.connect_accepted_socket(server, conn, ssl=self._ssl_context,
                                                   ssl_handshake_timeout=self._first_byte_timeout)
            elif self._plain_loopback and is_loopback(str(conn.getpeername()[0])):
                await loop.connect_accepted_socket(server, conn)
            else:
                await loop.sock_sendall(conn, PLAIN_ON_TLS_PORT)
                await _drain_and_close(loop, conn)
        except (OSError, TimeoutError, ssl.SSLError):
            conn.close()  # the client left, never spoke, or failed its handshake: nothing to answer
        except asyncio.CancelledError:
            conn.close()
            raise


async def _drain_and_close(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    """Close after an answer, reading what the client had sent first (for at most a second and 64 KiB):
    closing with unread bytes resets the connection, and the client might not see the answer."""
    conn.shutdown(socket.SHUT_WR)
    try:
        async with asyncio.timeout(1.0):
            for _ in range(16):
                if not await loop.sock_recv(conn, 4096):
                    break
    except (OSError, TimeoutError):
        pass
    conn.close()


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket, timeout: float) -> bytes:
    """The connection's first byte, left in the socket for whoever reads it next; b"" when closed."""
    readable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        async with asyncio.timeout(timeout):
            await readable
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv(1, socket.MSG_PEEK)


_peer_uids: weakref.WeakKeyDictionary[asyncio.BaseTransport, int | None] = weakref.WeakKeyDictionary()


def plain_peer_uid(transport: asyncio.BaseTransport | None) -> int | None:
    """The Unix uid owning the client's socket of a plain (not TLS) loopback connection, looked up
    once per connection; None for TLS, non-loopback or unknown peers."""
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return None
    if transport in _peer_uids:
        return _peer_uids[transport]
    peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
    uid = owner_uid(peer, local) if peer and local and is_loopback(str(peer[0])) else None
    _peer_uids[transport] = uid
    return uid
