"""The agent's connection to the gateway, as its node: ``https://host:port`` with the cluster CA and the
node's client certificate (``system:node:<name>``, group ``system:nodes``), or a bearer token (kl up's
token mode), or nothing (a plain-HTTP gateway on loopback).

One home for the TLS and credential set-up that the TokenRequests (:mod:`agent.podconfig.tokens`) and
the writes through the API (:mod:`agent.apiwrites`) share.

HTTP client: aiohttp (already the gateway's and the agent API's library); one session per connection,
so the TLS handshake is paid once, not per write.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REQUEST_TIMEOUT = 10.0  # seconds for one request, connection included
USER_AGENT = "kubelite-agent"  # the field manager of the node's writes (kube's kubelet: "kubelet")


@dataclass(frozen=True)
class Response:
    status: int
    doc: Any  # the decoded JSON body, or {} when there is none or it is not JSON


class GatewayConnection:
    """Requests to the gateway at ``server`` as this node.

    ``ca_file``/``client_cert``/``client_key`` are read at once: a missing or bad file raises
    OSError or ssl.SSLError (the agent's flags are checked with them). Transport failures of
    :meth:`request` raise aiohttp.ClientError, TimeoutError or OSError.
    """

    def __init__(self, server: str, *, ca_file: Path | None = None, client_cert: Path | None = None,
                 client_key: Path | None = None, bearer_token: str = "", timeout: float = REQUEST_TIMEOUT) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self._headers = {"User-Agent": USER_AGENT}
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        self._ssl: ssl.SSLContext | None = None
        if server.startswith("https://"):
            self._ssl = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if client_cert is not None:
                self._ssl.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True),
                headers=self._headers)
        return self._session

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, str] | None = None) -> Response:
        """``method`` ``path`` (from ``/api`` or ``/apis``) with ``body`` as JSON; the answer decoded."""
        async with self._open().request(method, self.server + path, json=body, params=params) as answer:
            text = await answer.text()
        try:
            doc = json.loads(text) if text else {}
        except ValueError:
            doc = {}
        return Response(answer.status, doc)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
