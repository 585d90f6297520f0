"""get and list: one object or a filtered, paginated list, as JSON or as a Table."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelite.gateway.common import Target, include_object, list_doc, wants_table
from kubelite.gateway.options import ListOptions, parse_list_options
from kubelite.storage import codec
from kubelite.gateway.respond import dumps, json_response
from kubelite.gateway.state import state_of
from kubelite.gateway.crds import table_printer
from kubelite.registry.printers import build_table
from kubelite.storage.store import ListResult


async def get_object(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    res = target.served.resource
    if not wants_table(request):
        # the stored bytes with the resourceVersion spliced in, as a LIST serves its items: the same
        # document as rendering the decoded object (metadata's members in stored order), without
        # parsing and re-encoding it
        data = await state.store.get_json(res, target.name, target.namespace)
        return web.Response(body=codec.escape_go(data) + b"\n", content_type="application/json")
    obj = await state.store.get(res, target.name, target.namespace)
    doc = obj.to_dict()
    table = build_table(res.kind, [doc], now=state.clock(), resource_version=obj.metadata.resource_version,
                        include_object=include_object(request), printer=table_printer(target.served))
    return json_response(table)


async def list_documents(request: web.Request, target: Target, options: ListOptions) -> tuple[list[dict[str, Any]], ListResult]:
    """The matching objects as JSON documents, and the list's resourceVersion/continue.

    An Exact or continued list reads etcd at that revision: 410 Expired once etcd compacted it.
    """
    state = state_of(request)
    await state.hubs.hub(target.served.resource)  # its window then covers this list's revision (list, then watch)
    revision = int(options.resource_version) if options.resource_version_match == "Exact" else 0
    result = await state.store.list(
        target.served.resource, target.namespace, predicate=options.matches if options.filters else None,
        limit=options.limit, continue_token=options.continue_token, resource_version=revision, as_documents=True,
        raw_filter=options.raw_filter(converted=target.served.resource.conversion is not None),
    )
    return result.items, result


async def list_objects(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    options = parse_list_options(request.query, target.served)
    if not options.filters and not wants_table(request):
        return await _list_as_stored(request, target, options)
    docs, result = await list_documents(request, target, options)
    if wants_table(request):
        table = build_table(
            target.served.resource.kind, docs, now=state.clock(), resource_version=result.resource_version,
            continue_token=result.continue_token, include_object=include_object(request),
            printer=table_printer(target.served),
        )
        return json_response(table)
    return json_response(list_doc(target.served, docs, result.resource_version, result.continue_token))


async def _list_as_stored(request: web.Request, target: Target, options: ListOptions) -> web.StreamResponse:
    """A plain JSON list assembled from the stored bytes: the same body as ``render(list_doc(...))``
    without parsing and re-encoding every object (the common ``kubectl get -o json`` and informer
    list: a LIST of 1,000 pods was two thirds JSON work)."""
    state = state_of(request)
    await state.hubs.hub(target.served.resource)
    revision = int(options.resource_version) if options.resource_version_match == "Exact" else 0
    result = await state.store.list(
        target.served.resource, target.namespace, limit=options.limit, continue_token=options.continue_token,
        resource_version=revision, as_json=True,
    )
    head = dumps(list_doc(target.served, [], result.resource_version, result.continue_token))
    items = b",".join(result.items)
    body = b"".join((head[:-2], items, b"]}\n"))  # head ends with "[]}"
    return web.Response(body=codec.escape_go(body), content_type="application/json")
