"""pods/log: stream a container's log from the agent of the pod's node.

The agent's address is the one the node reports in its status, as a kubelet's:
InternalIP and ``daemonEndpoints.kubeletEndpoint.Port`` (``kubelite.node.agent_auth``;
never an annotation, which any API user may set). The gateway calls
``GET http://IP:PORT/pods/{ns}/{name}/log`` with that node's own token
(HMAC of the agent secret and the node name) and streams the answer through,
so ``kubectl logs -f`` follows.
"""

from __future__ import annotations

import contextlib
import json

import aiohttp
from aiohttp import web

from kubelite.node.agent_auth import NoAgentEndpoint, agent_endpoint, node_token
from kubelite.api import errors
from kubelite.api.resources import NODES, PODS
from kubelite.gateway.common import Target
from kubelite.gateway.respond import json_response
from kubelite.gateway.state import state_of

_PASSED_PARAMS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "sinceTime", "limitBytes")


def choose_container(pod_name: str, names: list[str], wanted: str | None) -> str:
    if wanted:
        if wanted not in names:
            raise errors.bad_request(f"container {wanted} is not valid for pod {pod_name}")
        return wanted
    if len(names) == 1:
        return names[0]
    raise errors.bad_request(f"a container name must be specified for pod {pod_name}, "
                             f"choose one of: [{' '.join(names)}]")


async def pod_log(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    pod = await state.store.get(PODS, target.name, target.namespace)
    container = choose_container(pod.name, [c.name for c in pod.spec.containers], request.query.get("container"))
    if not pod.spec.node_name:
        raise errors.bad_request(f'container "{container}" in pod "{pod.name}" is waiting to start: '
                                 "the pod is not scheduled to a node yet")
    node = await state.store.get(NODES, pod.spec.node_name)
    try:
        endpoint = agent_endpoint(node.name, node.status)
    except NoAgentEndpoint as exc:
        raise errors.unavailable(str(exc)) from None
    params = {"container": container}
    params.update({k: request.query[k] for k in _PASSED_PARAMS if k in request.query})
    headers = {"Authorization": f"Bearer {node_token(state.agent_secret, node.name)}"} if state.agent_secret else {}
    url = f"{endpoint.rstrip('/')}/pods/{target.namespace}/{target.name}/log"
    timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_connect=5, sock_read=None)
    try:
        upstream_cm = state.http.get(url, params=params, headers=headers, timeout=timeout)
        async with upstream_cm as upstream:
            if upstream.status != 200:
                return await agent_error(upstream, node.name)
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            with contextlib.suppress(ConnectionError):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            return response
    except aiohttp.ClientError as exc:
        raise errors.unavailable(f"cannot reach the agent of node {node.name} at {endpoint}: {exc}") from exc


async def agent_error(upstream: aiohttp.ClientResponse, node: str) -> web.StreamResponse:
    body = await upstream.read()
    with contextlib.suppress(ValueError):
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            return json_response(doc, status=upstream.status)
    message = body.decode(errors="replace").strip() or upstream.reason or "error"
    reason = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(upstream.status, "InternalError")
    status = errors.Status(code=upstream.status, reason=reason, message=f"agent of node {node}: {message}")
    return json_response(status.model_dump(mode="json", by_alias=True, exclude_none=True), status=upstream.status)
