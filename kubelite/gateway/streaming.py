"""pods/exec, pods/attach, pods/portforward: the client's WebSocket, proxied to the pod's agent.

kube-apiserver's role: the request is authenticated and authorised like any other (these are
``create`` on the subresource, whatever the method: kube's websocket upgrade check), the pod is
looked up, and the stream goes to the agent of the pod's node (address and per-node token as for
``pods/log``, ``kubelite.node.agent_auth``). The agent speaks the protocols (``kubelite.node.remotecommand``,
``agent/streaming/``); the gateway relays messages both ways, each ``send`` awaiting the socket's
drain, so the slower side sets the pace. Closing either side closes the other.

The agent answers problems (no such container, the sim runtime, a SPDY upgrade) with a Status
before any upgrade. aiohttp's client does not expose a refused handshake's body, so the gateway then
asks the agent again without the upgrade and relays that Status. A client that does not upgrade
to a WebSocket at all (kubectl's SPDY fallback) is proxied the same way and gets the agent's Status.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from kubelite.node.agent_auth import NoAgentEndpoint, agent_endpoint, node_token
from kubelite.api import errors
from kubelite.api.resources import NODES, PODS
from kubelite.gateway.auth import websocket_protocols, without_bearer_protocol
from kubelite.gateway.common import Target
from kubelite.gateway.logs import agent_error, choose_container
from kubelite.gateway.state import state_of

MAX_MESSAGE = 16 << 20  # bytes of one relayed WebSocket message (the Python client sends up to 1 MiB)
# seconds between pings to the agent: a cut link ends the stream (clients are not pinged: the Python
# client answers pings only while it reads, and an idle `exec` session must not be closed)
AGENT_HEARTBEAT = 30.0
_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5, sock_read=None)


async def connect_pod(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    subresource = target.info.subresource or ""
    pod = await state.store.get(PODS, target.name, target.namespace)
    if subresource != "portforward":
        choose_container(pod.name, [c.name for c in pod.spec.containers], request.query.get("container"))
    if not pod.spec.node_name:
        raise errors.bad_request(f'pod "{pod.name}" is not scheduled to a node yet: there is nothing to connect to')
    node = await state.store.get(NODES, pod.spec.node_name)
    try:
        endpoint = agent_endpoint(node.name, node.status)
    except NoAgentEndpoint as exc:
        raise errors.unavailable(str(exc)) from None
    headers = {"Authorization": f"Bearer {node_token(state.agent_secret, node.name)}"} if state.agent_secret else {}
    url = f"{endpoint.rstrip('/')}/pods/{target.namespace}/{target.name}/{subresource}"
    params = list(request.query.items())
    protocols = _requested_protocols(request)
    try:
        if not web.WebSocketResponse(protocols=protocols).can_prepare(request).ok:
            return await _agent_answer(state.http, url, params, headers, node.name)
        try:
            upstream = await state.http.ws_connect(
                url, params=params, headers=headers, protocols=protocols, compress=0, max_msg_size=MAX_MESSAGE,
                autoping=True, heartbeat=AGENT_HEARTBEAT, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5))
        except aiohttp.WSServerHandshakeError:
            return await _agent_answer(state.http, url, params, headers, node.name)
    except aiohttp.ClientError as exc:
        raise errors.unavailable(f"cannot reach the agent of node {node.name} at {endpoint}: {exc}") from exc
    async with upstream:
        client = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (), compress=False,
                                       max_msg_size=MAX_MESSAGE, autoping=True)
        await client.prepare(request)
        await _relay(client, upstream)
    return client


def _requested_protocols(request: web.Request) -> tuple[str, ...]:
    # the browser's credential subprotocol is for the gateway only: the agent never sees the token
    return without_bearer_protocol(websocket_protocols(request.headers.get("Sec-WebSocket-Protocol")))


async def _agent_answer(http: aiohttp.ClientSession, url: str, params: list[tuple[str, str]],
                        headers: dict[str, str], node: str) -> web.StreamResponse:
    """The agent's Status for this request, asked without an upgrade (it refuses those with one)."""
    async with http.get(url, params=params, headers=headers, timeout=_TIMEOUT) as answer:
        return await agent_error(answer, node)


async def _relay(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def pump(source: Any, sink: Any) -> None:
        async for message in source:
            if message.type == WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                await sink.send_str(message.data)
            else:
                break

    tasks = [asyncio.create_task(pump(client, upstream), name="stream-up"),
             asyncio.create_task(pump(upstream, client), name="stream-down")]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for side in (upstream, client):
            with contextlib.suppress(Exception):
                await side.close()
