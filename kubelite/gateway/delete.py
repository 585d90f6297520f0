"""delete and deletecollection, with kube-apiserver's responses.

An object deleted at once answers with a Status Success (the kinds whose
``Served.returns_deleted`` is set, as kube's ReturnDeletedObject: the object); one that only got a deletionTimestamp (graceful pod deletion,
finalizers) answers with the object. Deleting a namespace only marks it
Terminating (kubelite.registry.strategy): the namespace controller empties it and
removes its ``kubernetes`` finalizer, then it goes. The system namespaces
cannot be deleted, and namespaces have no deletecollection (as in kube-apiserver).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.api.parse import load_json
from kubelite.api.resources import NAMESPACES, Resource
from kubelite.gateway import noderestriction, protobuf
from kubelite.gateway.bodies import decode, read_body
from kubelite.gateway.common import Target, list_doc
from kubelite.gateway.options import DeleteOptions, parse_delete_options, parse_list_options
from kubelite.gateway.read import list_documents
from kubelite.gateway.respond import json_response, success_status
from kubelite.gateway.state import state_of
from kubelite.gateway.write import content_type
from kubelite.storage.store import Store

_UNDELETABLE = ("default", "kube-system", "kube-public")


async def delete_options(request: web.Request) -> DeleteOptions:
    body: Any = None
    raw = await read_body(request)
    if raw.strip():
        if content_type(request) == protobuf.MEDIA_TYPE:  # typed client-go clients send DeleteOptions so
            return parse_delete_options(request.query, decode(raw, protobuf.MEDIA_TYPE))
        try:
            body = load_json(raw)
        except errors.ApiError as exc:
            raise errors.bad_request(f"couldn't decode DeleteOptions: {exc.status.message}") from exc
    return parse_delete_options(request.query, body)


async def delete_one(store: Store, res: Resource, name: str, namespace: str | None,
                     options: DeleteOptions) -> tuple[Any, bool]:
    if res is NAMESPACES:
        if name in _UNDELETABLE:
            raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
    return await store.delete(
        res, name, namespace, resource_version=options.resource_version, uid=options.uid,
        grace_period_seconds=options.grace_period_seconds, propagation_policy=options.propagation_policy,
        dry_run=options.dry_run,
    )


async def delete(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    res = target.served.resource
    options = await delete_options(request)
    decided_on = await noderestriction.admit_delete(request, res, name=target.name, namespace=target.namespace)
    if decided_on is not None and options.uid is None:  # the pod admission saw, not one recreated since
        options = dataclasses.replace(options, uid=decided_on.metadata.uid)
    obj, deleted_now = await delete_one(state.store, res, target.name, target.namespace, options)
    if not deleted_now or target.served.returns_deleted:
        return json_response(obj.to_dict())
    return json_response(success_status(name=target.name, kind=res.plural, group=res.group, uid=obj.metadata.uid))


async def delete_collection(request: web.Request, target: Target) -> web.StreamResponse:
    state = state_of(request)
    res = target.served.resource
    if res is NAMESPACES:
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    options = await delete_options(request)
    await noderestriction.admit_delete(request, res, name="", namespace=target.namespace)
    list_options = parse_list_options(request.query, target.served)
    docs, result = await list_documents(request, target, list_options)
    deleted = []
    for doc in docs:
        meta = doc["metadata"]
        try:
            obj, _ = await delete_one(state.store, res, meta["name"], meta.get("namespace"), options)
        except errors.ApiError as exc:
            if exc.code == 404:
                continue
            raise
        deleted.append(obj.to_dict())
    return json_response(list_doc(target.served, deleted, result.resource_version))
