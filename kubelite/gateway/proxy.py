"""``pods/proxy`` and ``services/proxy``: HTTP requests relayed to a pod, as kube-apiserver does.

``/api/v1/namespaces/NS/pods/[SCHEME:]NAME[:PORT]/proxy/PATH`` goes to the pod's IP (port 80 when
none is named; a named port is looked up in the pod's container ports); for a Service, NAME[:PORT]
picks the Service port (its name or number, the only one when none is given) and one ready endpoint
of it from the Service's EndpointSlices, at that port's target (kube's ``ResourceLocation`` of
``pkg/registry/core/{pod,service}``). ``nodes/NAME/proxy/PATH`` goes to the node's agent (its kubelet
endpoint from the Node's status) with that node's agent token (``kl images load`` posts an archive to
``/images/load`` this way; kube-apiserver reaches the kubelet the same way with its client
certificate); its request body is streamed. Method, path, query, body and headers travel as sent, the
response comes back streamed; hop-by-hop headers are dropped both ways and the client's
credentials are never passed on. The gateway connects from its own host, so pod IPs must be
routable from it (they are with the docker runtime on one host; the sim runtime's are not: 503).

A pod's IP or a Service endpoint must be an address that leads off this host (kube's
``proxyutil.IsProxyableIP``: not loopback, link-local, multicast or unspecified; else 400 "address not
allowed"): an EndpointSlice naming 127.0.0.1 would make the gateway call itself — and its own plain
loopback HTTP is the local owner's (kubelite.gateway.tlssniff), so anyone who may create an
EndpointSlice and proxy to a Service would act as a cluster admin.

An answer relayed over plain HTTP (the local owner's, kubelite.gateway.tlssniff) carries
``Content-Security-Policy: sandbox``: its origin, ``http://127.0.0.1:PORT``, is the one the owner's
browser is a cluster admin on (by its socket's uid, with no credential to steal), so a pod's page
opened there must not run as that origin (a sandboxed page has an opaque origin, whose requests
carry ``Origin: null`` and get 403).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import aiohttp
from aiohttp import web

from kubelite.api import errors
from kubelite.node.agent_auth import NoAgentEndpoint, agent_endpoint, node_token
from kubelite.api.resources import ENDPOINTSLICES, NODES, PODS
from kubelite.gateway.common import Target
from kubelite.gateway.state import state_of

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade", "host", "authorization", "content-length"})
_CONNECT_TIMEOUT = 10.0  # seconds to reach the pod; the answer itself may stream as long as it likes


def split_name(raw: str) -> tuple[str, str, str]:
    """``[scheme:]name[:port]`` → (scheme, name, port); scheme ``http`` unless ``https`` is given."""
    parts = raw.split(":")
    if len(parts) == 3:
        scheme, name, port = parts
    elif len(parts) == 2 and parts[0] in ("http", "https"):
        (scheme, name), port = parts, ""
    elif len(parts) == 2:
        scheme, (name, port) = "", parts
    elif len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    else:
        raise errors.bad_request(f"invalid proxy name {raw!r}: want [scheme:]name[:port]")
    if scheme not in ("", "http", "https"):
        raise errors.bad_request(f"invalid scheme {scheme!r}: http or https")
    return scheme or "http", name, port


def pod_port(pod: Any, port: str) -> int:
    """A pod's port by number or by a container port's name; 80 when none is named."""
    if not port:
        return 80
    if port.isdigit():
        return int(port)
    for container in pod.spec.containers:
        for declared in container.ports or []:
            if declared.name == port:
                return int(declared.container_port)
    raise errors.bad_request(f"no container port named {port!r} in pod {pod.name}")


def service_endpoint(service: dict[str, Any], slices: list[dict[str, Any]], port: str,
                     choose: Any = random.choice) -> tuple[str, int]:
    """(address, port) of one ready endpoint behind ``service``'s port ``port`` (name or number)."""
    ports = (service.get("spec") or {}).get("ports") or []
    if port:
        wanted = [p for p in ports if str(p.get("name") or "") == port or str(p.get("port")) == port]
    else:
        wanted = ports[:1] if len(ports) == 1 else []
    name = service.get("metadata", {}).get("name", "")
    if not wanted:
        raise errors.bad_request(f"no service port {port!r} found for service {name!r}" if port else
                                 f"service {name!r} has several ports: name one")
    port_name = wanted[0].get("name") or ""
    candidates = []
    for endpoint_slice in slices:
        number = next((p.get("port") for p in endpoint_slice.get("ports") or [] if (p.get("name") or "") == port_name),
                      None)
        if number is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            candidates += [(address, int(number)) for address in endpoint.get("addresses") or []]
    if not candidates:
        raise errors.unavailable(f'no endpoints available for service "{name}"')
    chosen: tuple[str, int] = choose(candidates)
    return chosen


def check_proxyable(address: str) -> None:
    """Raise kube's 400 "address not allowed" unless ``address`` is an IP literal leading off this host
    (``proxyutil.IsProxyableIP``; IPv4-mapped IPv6 addresses are judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise errors.bad_request(f"address not allowed: {address!r} is not an IP address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        raise errors.bad_request(f"address not allowed: {address}")


async def proxy(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    info = target.info
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    if target.served.resource is NODES:
        node = await state.store.get(NODES, info.name or "")
        try:
            endpoint = agent_endpoint(node.name, node.status)
        except NoAgentEndpoint as exc:
            raise errors.unavailable(str(exc)) from None
        if state.agent_secret:
            headers["Authorization"] = f"Bearer {node_token(state.agent_secret, node.name)}"
        return await _relay(request, state, f"{endpoint}{info.proxy_path or '/'}", headers,
                            request.content if request.can_read_body else None)
    scheme, name, port = split_name(info.name or "")
    if target.served.resource is PODS:
        pod = await state.store.get(PODS, name, info.namespace)
        address = pod.status.pod_ip if pod.status else None
        if not address:
            raise errors.bad_request(f"pod {name} has no IP address yet")
        number = pod_port(pod, port)
    else:
        service = (await state.store.get(target.served.resource, name, info.namespace)).to_dict()
        listed = await state.store.list(ENDPOINTSLICES, info.namespace, as_documents=True,
                                        predicate=lambda doc: (doc.get("metadata", {}).get("labels") or {})
                                        .get("kubernetes.io/service-name") == name)
        address, number = service_endpoint(service, listed.items, port)
    check_proxyable(address)
    host = f"[{address}]" if ":" in address else address
    url = f"{scheme}://{host}:{number}{info.proxy_path or '/'}"
    return await _relay(request, state, url, headers, await request.read() if request.can_read_body else None)


VIA = "1.1 kubelite-gateway"  # RFC 9110's Via: what the gateway relays is never its local owner's own request


async def _relay(request: web.Request, state: Any, url: str, headers: dict[str, str], body: Any) -> web.StreamResponse:
    via = request.headers.get("Via")
    headers = {**headers, "Via": f"{via}, {VIA}" if via else VIA}
    try:
        upstream = await state.http.request(
            request.method, url, params=request.query, headers=headers, data=body, allow_redirects=False,
            ssl=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT),
        )
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # kube: 503 "error trying to reach service"
        raise errors.unavailable(f"error trying to reach service: {exc or type(exc).__name__}") from None
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for key, value in upstream.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                response.headers.add(key, value)
        if not request.secure:  # the local owner's plain origin: the pod's page gets none of its authority
            response.headers.add("Content-Security-Policy", "sandbox")
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(64 << 10):
            await response.write(chunk)
        await response.write_eof()
    return response
