"""Request bodies: size limit first, then decoding, then field checks, then the typed object.

Order matters: a 2 MiB body is refused (413) before it is read or parsed, and
nothing about a rejected body ever reaches etcd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from kubelite.api import errors
from kubelite.api.meta import KubeObject
from kubelite.api.parse import load_documents, load_json, parse_object
from kubelite.api.schema import prune, unknown_to_kubernetes
from kubelite.api.warnings import unknown_fields
from kubelite.api.defaults import with_defaults
from kubelite.gateway import audit, protobuf
from kubelite.gateway.state import state_of

T = TypeVar("T")

# etcd refuses requests over 1.5 MiB; say so before it has to.
MAX_BODY_BYTES = int(1.5 * 1024 * 1024)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")


async def read_body(request: web.Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, which must arrive within the gateway's ``--request-body-timeout``: a client that
    sends it too slowly (a slowloris on the body) gets 408 instead of holding a handler forever."""
    timeout = state_of(request).body_read_timeout
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(request, limit)
    except TimeoutError:
        raise errors.ApiError(errors.Status(
            code=408, reason="Timeout", message=f"the request body did not arrive within {timeout:g} s")) from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise errors.too_large(f"the request body is {length} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise errors.too_large(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# Bodies above this many bytes are decoded and checked in a worker thread: a
# 1.5 MiB YAML body of small nodes takes seconds of pure-Python work, which on
# the event loop would stall every other client (watches included).
OFF_LOOP_BYTES = 64 * 1024


async def read_decoded(request: web.Request, content_type: str) -> tuple[Any, int]:
    """The request body read (size limit first) and decoded; with its size in bytes, for :func:`off_loop`."""
    body = await read_body(request)
    doc = await off_loop(len(body), decode, body, content_type)
    audit.request_object(request, doc)  # objectRef's name of a create; requestObject at level Request
    return doc, len(body)


async def off_loop(size: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, in a worker thread when the body it works on is large."""
    if size > OFF_LOOP_BYTES:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)


# The content types a web page may send to another origin without a CORS preflight (the Fetch standard's
# "CORS-safelisted" ones): never decoded as JSON, as kube-apiserver (415), so a cross-site form or
# text/plain fetch cannot write as the local owner (whose plain HTTP is keyed by socket, not credential)
FORM_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def decode(body: bytes, content_type: str) -> Any:
    """JSON (YAML, Kubernetes protobuf when the content type says so) → Python value; 400 when malformed,
    415 for a form's or text's content type."""
    if content_type.split(";", 1)[0].strip().lower() in FORM_TYPES:
        raise errors.unsupported_media_type(
            f"the body of the request was in an unknown format ({content_type}) - accepted media types include: "
            "application/json, application/yaml, application/vnd.kubernetes.protobuf")
    if not body.strip():
        raise errors.bad_request("the request body is empty")
    if content_type == protobuf.MEDIA_TYPE:
        try:
            return protobuf.decode_object(body)
        except protobuf.ProtobufError as exc:
            raise errors.bad_request(f"couldn't decode the protobuf body: {exc}") from exc
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise errors.bad_request(f"the request body is not UTF-8: {exc}") from exc
    if content_type in YAML_TYPES:
        docs = load_documents(text)
        if len(docs) != 1:
            raise errors.bad_request(f"the request body must hold exactly one object, not {len(docs)}")
        return docs[0]
    return load_json(text)


@dataclass
class CheckedObject:
    obj: KubeObject
    warnings: list[str] = field(default_factory=list)


def check_and_parse(doc: Any, *, kind: str, validation: str) -> CheckedObject:
    """Prune fields Kubernetes does not have (Strict: 400, Warn: warning), default, parse and validate.

    Fields Kubernetes has but kubelite does not act on are kept, with a warning.
    """
    if not isinstance(doc, dict):
        raise errors.bad_request(f"the object must be a JSON object, not {type(doc).__name__}")
    unknown = unknown_to_kubernetes(doc, kind)
    warnings: list[str] = []
    if unknown:
        if validation == "Strict":
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            short = kind.rpartition("/")[2]  # a schema key such as events.k8s.io/v1/Event
            raise errors.bad_request(f'{short} in version "{doc.get("apiVersion")}" cannot be handled as a '
                                     f"{short}: strict decoding error: {listed}")
        if validation == "Warn":
            warnings += [f'unknown field "{path}"' for path in unknown]
        doc = prune(doc, unknown)
    obj = parse_object(with_defaults(kind, doc))
    if validation != "Ignore":
        warnings += [f"{path}: kubelite keeps this field but does not act on it" for path in unknown_fields(obj)]
    return CheckedObject(obj, warnings)
