"""``metrics.k8s.io/v1beta1``: NodeMetrics and PodMetrics from the agents' usage samples.

What metrics-server serves through kube-apiserver's aggregation, served by the
gateway itself: on each request it reads the nodes (and, for pods, the pods,
with the request's label selector) from etcd, asks the agents of the nodes
concerned for their ``/stats/summary`` (``agent/stats.py``; the address and
per-node token as for ``pods/log``, :mod:`kubelite.node.agent_auth`), concurrently,
each within ``AGENT_TIMEOUT`` seconds, and answers from those samples. The
agents sample on their own schedule (every 10 s), so a request costs one small
HTTP call per node and never a runtime call. The gateway keeps nothing: any
number of gateways serve the same figures.

As metrics-server: ``timestamp`` is the time of the later of the two samples a
CPU rate comes from and ``window`` the time between them; CPU in nanocores
(``"123456n"``), memory the working set in bytes (``"1024Ki"``); an agent that
does not answer, or a pod without samples yet, is left out of lists, and a get
of it is 404 (``podmetrics.metrics.k8s.io "default/web" not found``). Only get
and list: watch is 405, as metrics-server's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp import web

from kubelite.node.agent_auth import NoAgentEndpoint, agent_endpoint, node_token
from kubelite.api import errors
from kubelite.api.core import Node, Pod
from kubelite.api.labels import Selector, parse_selector
from kubelite.api.quantity import format_bytes, format_nano_cores
from kubelite.api.resources import NODES, PODS
from kubelite.gateway.common import include_object, wants_table
from kubelite.gateway.metrics_group import API_VERSION, GROUP, RESOURCES, VERBS, VERSION
from kubelite.gateway.requestinfo import RequestInfo
from kubelite.gateway.respond import json_response
from kubelite.gateway.state import GatewayState, state_of
from kubelite.registry.printers import build_table
from kubelite.util import clock

log = logging.getLogger(__name__)

AGENT_TIMEOUT = 5.0  # seconds per agent
FAN_OUT = 32  # agents asked at once

Summary = dict[str, Any]


# -- pure: documents from summaries ---------------------------------------------------

def format_window(seconds: float) -> str:
    """Go's ``time.Duration`` text (metav1.Duration's JSON): ``10.012s``, ``1m0.5s``."""
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _usage(stats: dict[str, Any]) -> dict[str, str] | None:
    cpu, memory = stats.get("cpu") or {}, stats.get("memory") or {}
    if "usageNanoCores" not in cpu or "workingSetBytes" not in memory:
        return None
    return {"cpu": format_nano_cores(int(cpu["usageNanoCores"])), "memory": format_bytes(int(memory["workingSetBytes"]))}


def node_metrics(node: Node, summary: Summary, now: str) -> dict[str, Any] | None:
    """The NodeMetrics of one node's summary; None when it has no usage yet."""
    stats = summary.get("node") or {}
    usage = _usage(stats)
    if usage is None:
        return None
    metadata: dict[str, Any] = {"name": node.name, "creationTimestamp": now}
    if node.metadata.labels:
        metadata["labels"] = dict(node.metadata.labels)
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": metadata,
            "timestamp": stats["cpu"].get("time"), "window": format_window(float(stats["cpu"].get("window", 0))),
            "usage": usage}


def pod_metrics(pod: Pod, entry: dict[str, Any], now: str) -> dict[str, Any] | None:
    """The PodMetrics of one pod's summary entry; None when no container has usage yet."""
    containers, times, windows = [], [], []
    for container in entry.get("containers") or []:
        usage = _usage(container)
        if usage is None:
            continue
        containers.append({"name": container.get("name", ""), "usage": usage})
        times.append(container["cpu"].get("time") or "")
        windows.append(float(container["cpu"].get("window", 0)))
    if not containers:
        return None
    metadata: dict[str, Any] = {"name": pod.name, "namespace": pod.metadata.namespace, "creationTimestamp": now}
    if pod.metadata.labels:
        metadata["labels"] = dict(pod.metadata.labels)
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": metadata, "timestamp": max(times),
            "window": format_window(max(windows)), "containers": containers}


def list_document(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}


# -- I/O: asking the agents ------------------------------------------------------------

async def _summary(state: GatewayState, node: Node, limit: asyncio.Semaphore) -> Summary | None:
    try:
        endpoint = agent_endpoint(node.name, node.status)
    except NoAgentEndpoint:
        return None
    headers = {"Authorization": f"Bearer {node_token(state.agent_secret, node.name)}"} if state.agent_secret else {}
    async with limit:
        try:
            async with state.http.get(f"{endpoint}/stats/summary", headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=AGENT_TIMEOUT)) as answer:
                if answer.status != 200:
                    log.warning("agent of node %s answered %d for its stats", node.name, answer.status)
                    return None
                found: Summary = await answer.json()
                return found
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("no stats from the agent of node %s: %s", node.name, exc)
            return None


async def summaries(state: GatewayState, nodes: Iterable[Node]) -> dict[str, Summary]:
    """Node name → its agent's summary, for the nodes whose agents answered."""
    limit = asyncio.Semaphore(FAN_OUT)
    listed = list(nodes)
    answers = await asyncio.gather(*(_summary(state, n, limit) for n in listed))
    return {n.name: s for n, s in zip(listed, answers, strict=True) if s is not None}


def _selector(request: web.Request) -> Selector:
    try:
        return parse_selector(request.query.get("labelSelector", ""))
    except ValueError as exc:
        raise errors.bad_request(f"unable to parse requirement: {exc}") from None


async def _nodes(request: web.Request, state: GatewayState, info: RequestInfo, selector: Selector) -> web.Response:
    if info.name:
        nodes = [await _get_node(state, info.name)]
    else:
        nodes = [n for n in (await state.store.list(NODES)).items if selector.matches(n.metadata.labels)]
    found = await summaries(state, nodes)
    now = clock.format_time(state.clock())
    items = [doc for n in nodes if n.name in found and (doc := node_metrics(n, found[n.name], now)) is not None]
    if info.name and not items:
        raise errors.not_found("nodemetrics", info.name, group=GROUP)
    return _answer(request, "NodeMetrics", items, one=bool(info.name))


async def _pods(request: web.Request, state: GatewayState, info: RequestInfo, selector: Selector) -> web.Response:
    if info.name:
        pods = [await _get_pod(state, info)]
    else:
        pods = [p for p in (await state.store.list(PODS, info.namespace)).items
                if selector.matches(p.metadata.labels) and p.spec.node_name]
    node_names = sorted({p.spec.node_name for p in pods if p.spec.node_name})
    nodes = [n for n in (await state.store.list(NODES)).items if n.name in node_names]
    found = await summaries(state, nodes)
    entries = {e.get("podRef", {}).get("uid"): e for s in found.values() for e in s.get("pods") or []}
    now = clock.format_time(state.clock())
    items = [doc for p in pods if (entry := entries.get(p.metadata.uid)) is not None
             and (doc := pod_metrics(p, entry, now)) is not None]
    if info.name and not items:
        raise errors.not_found("podmetrics", f"{info.namespace}/{info.name}", group=GROUP)
    return _answer(request, "PodMetrics", items, one=bool(info.name))


def _answer(request: web.Request, kind: str, items: list[dict[str, Any]], *, one: bool) -> web.Response:
    """The object, the list, or (``kubectl get nodemetrics``) metrics-server's Table of them."""
    if wants_table(request):
        return json_response(build_table(kind, items, now=state_of(request).clock(),
                                         include_object=include_object(request)))
    return json_response(items[0] if one else list_document(kind, items))


async def _get_node(state: GatewayState, name: str) -> Node:
    try:
        node: Node = await state.store.get(NODES, name)
        return node
    except errors.ApiError as exc:
        if exc.code == 404:
            raise errors.not_found("nodemetrics", name, group=GROUP) from None
        raise


async def _get_pod(state: GatewayState, info: RequestInfo) -> Pod:
    try:
        pod: Pod = await state.store.get(PODS, info.name or "", info.namespace)
        return pod
    except errors.ApiError as exc:
        if exc.code == 404:
            raise errors.not_found("podmetrics", f"{info.namespace}/{info.name}", group=GROUP) from None
        raise


async def handle(request: web.Request, info: RequestInfo) -> web.StreamResponse:
    """Every request under ``/apis/metrics.k8s.io/``."""
    plural = {p: namespaced for p, _, namespaced in RESOURCES}
    if info.version != VERSION or info.resource not in plural or info.subresource:
        raise errors.resource_not_found()
    if info.namespace and not plural[info.resource]:
        raise errors.resource_not_found()
    if info.verb not in VERBS:
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    state = state_of(request)
    selector = _selector(request)
    if info.resource == "nodes":
        return await _nodes(request, state, info, selector)
    if info.name and not info.namespace:
        raise errors.resource_not_found()
    return await _pods(request, state, info, selector)
