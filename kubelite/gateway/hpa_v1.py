"""``autoscaling/v1`` HorizontalPodAutoscalers: a view of the stored autoscaling/v2 objects.

kube-apiserver serves one stored HPA in both versions, converting on the way
in and out. kubelite does the same for the verbs v1 clients use — get, list
(JSON or Table), create, update (main resource and ``status``) and delete:
the request is checked and written by the v2 pipeline (schema, defaults,
validation, managedFields) after :func:`kubelite.api.hpa.from_v1`, and every
object answered is :func:`kubelite.api.hpa.to_v1` of the stored one.
``kubectl autoscale`` (1.32) creates its HPA here, with a protobuf body.
Watch and patch of the v1 view answer 405 naming autoscaling/v2, which
serves them (kubectl prefers v2).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from kubelite.api import errors, hpa
from kubelite.api.resources import HORIZONTALPODAUTOSCALERS
from kubelite.gateway import delete, read, write
from kubelite.gateway.bodies import check_and_parse, off_loop, read_decoded
from kubelite.gateway.catalog import for_resource
from kubelite.gateway.common import Target, wants_table
from kubelite.gateway.options import field_validation
from kubelite.gateway.requestinfo import RequestInfo
from kubelite.gateway.respond import JSON, json_response

GROUP, VERSION = "autoscaling", "v1"
VERBS = ("create", "delete", "get", "list", "update")
_KIND = "HorizontalPodAutoscaler"


def serves(info: RequestInfo) -> bool:
    return (info.group, info.version, info.resource) == (GROUP, VERSION, HORIZONTALPODAUTOSCALERS.plural)


def _v1_document(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the object must be a JSON object, not {type(body).__name__}")
    body.setdefault("apiVersion", hpa.V1)
    body.setdefault("kind", _KIND)
    if body["apiVersion"] != hpa.V1 or body["kind"] != _KIND:
        raise errors.bad_request(f'the object is {body["kind"]} in version "{body["apiVersion"]}", but this URL '
                                 f'serves {_KIND} in version "{hpa.V1}"')
    return hpa.from_v1(body)


def _converted(response: web.StreamResponse) -> web.StreamResponse:
    """A v2 answer (object, list or Status) as the v1 view."""
    if not isinstance(response, web.Response) or response.content_type != JSON or not isinstance(response.body, bytes):
        return response
    doc = json.loads(response.body)
    if doc.get("kind") == _KIND:
        doc = hpa.to_v1(doc)
    elif doc.get("kind") == f"{_KIND}List":
        doc = {**doc, "apiVersion": hpa.V1, "items": [hpa.to_v1(item) for item in doc.get("items") or []]}
    else:
        return response
    converted = json_response(doc, status=response.status)
    for header in ("Warning",):
        for value in response.headers.getall(header, []):
            converted.headers.add(header, value)
    return converted


async def _create(request: web.Request, target: Target) -> web.StreamResponse:
    if not target.namespace:
        raise errors.method_not_allowed("create is not supported on all namespaces; POST to "
                                        "/namespaces/<namespace>/horizontalpodautoscalers")
    validation = field_validation(request.query)
    body, size = await read_decoded(request, write.content_type(request))
    doc = write._fill_type_and_scope(_v1_document(body), target)  # noqa: SLF001 - the v2 pipeline's own step
    checked = await off_loop(size, check_and_parse, doc, kind=_KIND, validation=validation)
    created = await write._create_checked(request, target, checked,  # noqa: SLF001
                                          owner=write._writer(request, target), size=size)  # noqa: SLF001
    return json_response(hpa.to_v1(created.to_dict()), status=201, warnings=checked.warnings)


async def _update(request: web.Request, target: Target) -> web.StreamResponse:
    validation = field_validation(request.query)
    body, size = await read_decoded(request, write.content_type(request))
    doc = write._fill_type_and_scope(_v1_document(body), target)  # noqa: SLF001
    wanted_rv = (doc.get("metadata") or {}).get("resourceVersion")
    checked = await off_loop(size, check_and_parse, doc, kind=_KIND, validation=validation)
    updated = await write._write(request, target, lambda _current: checked,  # noqa: SLF001
                                 precondition=wanted_rv or None, record_owner=True, size=size)
    return json_response(hpa.to_v1(updated.to_dict()), warnings=checked.warnings)


async def handle(request: web.Request, info: RequestInfo) -> web.StreamResponse:
    """Every request for ``/apis/autoscaling/v1/…/horizontalpodautoscalers…``."""
    served = for_resource(HORIZONTALPODAUTOSCALERS)
    if info.subresource not in (None, "status") or (info.name and not info.namespace):
        raise errors.resource_not_found()
    if info.verb not in VERBS or (info.subresource == "status" and info.verb not in ("get", "update")):
        raise errors.method_not_allowed(f"autoscaling/v1 horizontalpodautoscalers serve {', '.join(VERBS)}; "
                                        "use autoscaling/v2 for watch and patch")
    target = Target(served, dataclasses.replace(info, version=HORIZONTALPODAUTOSCALERS.version))
    if info.verb == "create":
        return await _create(request, target)
    if info.verb == "update":
        return await _update(request, target)
    if info.verb == "delete":
        return _converted(await delete.delete(request, target))
    handler = read.get_object if info.verb == "get" else read.list_objects
    answer = await handler(request, target)
    return answer if wants_table(request) else _converted(answer)
