"""create, update and patch (merge, JSON, strategic merge, server-side apply).

Every write: body size → decode → field validation → typed parse and
validation → immutability → one conditional etcd write. A rejected request
writes nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from aiohttp import web

from kubelite.api import certificates, errors
from kubelite.api.defaults import with_defaults
from kubelite.api.meta import KubeObject, ManagedFieldsEntry
from kubelite.gateway import fieldmanager, noderestriction
from kubelite.gateway.auth import UNSECURED
from kubelite.gateway.authz import USER, admit_write
from kubelite.gateway.bodies import CheckedObject, check_and_parse, off_loop, read_decoded
from kubelite.gateway.common import Target
from kubelite.gateway.crds import check_custom, transition_causes
from kubelite.gateway.fieldschema import UNKNOWN
from kubelite.gateway.fieldschema import root as schema_root
from kubelite.gateway.immutable import immutable_field_causes
from kubelite.gateway.options import dry_run, field_validation
from kubelite.gateway.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from kubelite.gateway.respond import json_response
from kubelite.gateway.state import event_leases_of, state_of
from kubelite.util import clock

# An unconditional write retries conflicts (as kube-apiserver's GuaranteedUpdate does) until this deadline.
_CONFLICT_DEADLINE_SECONDS = 30.0
PATCH_TYPES = (
    "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


async def conflict_retries() -> AsyncIterator[int]:
    """Attempts for a read-modify-write without a user precondition.

    Losing a race to another writer is not the client's conflict, so it is
    retried (with a little jitter, so racing writers spread out) until the
    deadline; a caller that breaks out of the loop has succeeded.
    """
    deadline = clock.Deadline(_CONFLICT_DEADLINE_SECONDS)
    attempt = 0
    while attempt == 0 or not deadline.expired():
        if attempt:
            await asyncio.sleep(random.uniform(0, min(0.002 * attempt, 0.05)))
        yield attempt
        attempt += 1


def content_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()


def checked_body(doc: Any, target: Target, validation: str) -> CheckedObject:
    """The request's object pruned, defaulted and validated by its kind's rules (a custom resource's
    come from its CRD: :func:`kubelite.gateway.crds.check_custom`)."""
    if target.served.custom is not None:
        return check_custom(doc, target.served, validation)
    return check_and_parse(doc, kind=target.served.resource.schema_kind, validation=validation)


def _fill_type_and_scope(doc: Any, target: Target) -> dict[str, Any]:
    """Default apiVersion/kind from the URL (as kube does), and check name/namespace against it."""
    if not isinstance(doc, dict):
        raise errors.bad_request(f"the object must be a JSON object, not {type(doc).__name__}")
    res = target.served.resource
    doc.setdefault("apiVersion", res.api_version)
    doc.setdefault("kind", res.kind)
    if doc["apiVersion"] != res.api_version or doc["kind"] != res.kind:
        raise errors.bad_request(
            f'the object is {doc["kind"]} in version "{doc["apiVersion"]}", but this URL serves '
            f'{res.kind} in version "{res.api_version}"'
        )
    metadata = doc.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise errors.bad_request("metadata must be an object")
    if res.namespaced:
        if metadata.get("namespace") in (None, ""):
            metadata["namespace"] = target.namespace
        elif metadata["namespace"] != target.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
    if target.info.name is not None:
        if metadata.get("name") in (None, ""):
            metadata["name"] = target.name
        elif metadata["name"] != target.name:
            raise errors.bad_request(f'the name of the object ({metadata["name"]}) does not match the name on '
                                     f"the URL ({target.name})")
    return doc


async def create(request: web.Request, target: Target) -> web.StreamResponse:
    if target.served.resource.namespaced and not target.namespace:
        raise errors.method_not_allowed(f"create is not supported on all namespaces; POST to "
                                        f"/namespaces/<namespace>/{target.served.resource.plural}")
    validation = field_validation(request.query)
    body, size = await read_decoded(request, content_type(request))
    doc = _fill_type_and_scope(body, target)
    checked = await off_loop(size, checked_body, doc, target, validation)
    created = await _create_checked(request, target, checked, owner=_writer(request, target), size=size)
    return json_response(created.to_dict(), status=201, warnings=checked.warnings)


async def _create_checked(
    request: web.Request, target: Target, checked: CheckedObject, *, owner: fieldmanager.Write | None, size: int,
) -> KubeObject:
    """Create; ``owner`` (None when the managedFields are already set, by apply) gets an Update entry."""
    res = target.served.resource
    obj = checked.obj
    if res.kind == "Namespace":
        obj = res.model.model_validate({**obj.to_dict(), "status": {"phase": "Active"}})
    if res.kind == certificates.KIND:
        obj = res.model.model_validate(_with_requester(request, obj.to_dict()))
    if target.served.custom is not None and target.served.custom.status:  # the status subresource's writers own it
        obj = res.model.model_validate({k: v for k, v in obj.to_dict().items() if k != "status"})
    if owner is not None:
        obj = await off_loop(size, _owned_by, target, None, obj, owner)
    await noderestriction.admit(request, res, operation="CREATE", obj=obj)  # a node's credentials (403)
    admit_write(request, res, obj)  # RBAC escalation prevention (403), before anything is written
    state, dry = state_of(request), dry_run(request.query)
    # Events expire an hour after they are written, whoever writes them (kube-apiserver's --event-ttl)
    lease = await event_leases_of(state).lease() if res.plural == "events" and not dry else 0
    return await state.store.create(res, obj, dry_run=dry, lease=lease)


def _with_requester(request: web.Request, doc: dict[str, Any]) -> dict[str, Any]:
    """A CertificateSigningRequest names who asked for it (a gateway without authentication: UNSECURED)."""
    user = request.get(USER) or UNSECURED
    return certificates.with_requester(doc, username=user.name, uid=user.uid, groups=user.groups)


# -- field ownership (managedFields) ----------------------------------------------------------

def _writer(request: web.Request, target: Target, *, subresource: str = "") -> fieldmanager.Write:
    """Who this request writes as: ``?fieldManager=`` or the user-agent's product, at the gateway's now."""
    manager = fieldmanager.manager_name(request.query.get("fieldManager"), request.headers.get("User-Agent"))
    _checked_ownership(target, lambda: fieldmanager.validate_manager(manager))
    now = clock.format_time(state_of(request).clock())
    res = target.served.resource
    return fieldmanager.Write(manager, res.api_version, now, subresource, kind=res.kind)


def _checked_ownership(target: Target, compute: Callable[[], Any]) -> Any:
    """Run a fieldmanager step; a bad fieldManager or managedFields is 422 naming the field."""
    try:
        return compute()
    except fieldmanager.InvalidField as exc:
        res = target.served.resource
        raise errors.invalid(res.kind, target.name or "", [errors.field_invalid(exc.field, str(exc))],
                             group=res.group) from exc


def owned_by_request(request: web.Request, target: Target, current: KubeObject, obj: KubeObject, *,
                     subresource: str) -> KubeObject:
    """``obj`` with managedFields recording this request's Update of ``current`` through ``subresource``."""
    return _owned_by(target, current.to_dict(), obj, _writer(request, target, subresource=subresource))


def _owned_by(target: Target, current: dict[str, Any] | None, obj: KubeObject, owner: fieldmanager.Write) -> KubeObject:
    """``obj`` with managedFields recording ``owner``'s Update from ``current`` (None: a create)."""
    node = schema_root(target.served.resource.schema_kind)
    doc = _checked_ownership(target, lambda: fieldmanager.update(current, obj.to_dict(), node, owner))
    return _with_managed_fields(obj, doc)


def _with_managed_fields(obj: KubeObject, doc: dict[str, Any]) -> KubeObject:
    managed = (doc.get("metadata") or {}).get("managedFields")
    obj = obj.deep_copy()
    obj.metadata.managed_fields = [ManagedFieldsEntry.model_validate(e) for e in managed] if managed else None
    return obj


async def update(request: web.Request, target: Target) -> web.StreamResponse:
    validation = field_validation(request.query)
    body, size = await read_decoded(request, content_type(request))
    doc = _fill_type_and_scope(body, target)
    wanted_rv = (doc.get("metadata") or {}).get("resourceVersion")
    checked = await off_loop(size, checked_body, doc, target, validation)
    updated = await _write(request, target, lambda _current: checked, precondition=wanted_rv or None,
                           record_owner=True, size=size)
    return json_response(updated.to_dict(), warnings=checked.warnings)


async def _write(
    request: web.Request, target: Target, build: Callable[[dict[str, Any]], CheckedObject], *,
    precondition: str | None, record_owner: bool, size: int,
) -> KubeObject:
    """Read, build the new object from the stored document, check, write with the read's resourceVersion.

    Without a precondition from the client a conflict with another writer is
    retried (the change is recomputed on the newer object), as kube does.
    ``record_owner``: add this request's Update to managedFields (apply sets them itself).
    Building and ownership run off the event loop when the body is ``size`` bytes and large.
    """
    state = state_of(request)
    res = target.served.resource
    subresource: Literal["status", "finalize", "approval"] | None = (
        target.info.subresource if target.info.subresource in ("status", "finalize", "approval")  # type: ignore[assignment]
        else None)
    owner = _writer(request, target, subresource=subresource or "") if record_owner else None
    async with state.write_locks.hold(res.key(target.name, target.namespace)):
        async for _ in conflict_retries():
            current = await state.store.get(res, target.name, target.namespace)
            current_doc = current.to_dict()
            if precondition and precondition != current.metadata.resource_version:
                raise _stale(target, precondition, current.metadata.resource_version)
            checked, new = await off_loop(size, _built, build, target, current_doc, owner)
            # a node's credentials (403), before validation as kube's mutating admission
            await noderestriction.admit(request, res, operation="UPDATE", subresource=target.info.subresource or "",
                                        obj=new, old=current)
            if subresource is None:
                # defaults on both sides: objects written by components directly may lack them;
                # the new one as the store will write it (admission: default tolerations...)
                new = state.store.prepare(res, current, new)
                if target.served.custom is not None:  # its CRD's rules, never a same-named built-in kind's
                    causes = transition_causes(target.served, new.to_dict(), current_doc)
                else:
                    causes = immutable_field_causes(res.kind, with_defaults(res.kind, current_doc), new.to_dict())
                if causes:
                    raise errors.invalid(res.kind, target.name, causes, group=res.group)
            new.metadata.resource_version = current.metadata.resource_version
            try:
                admit_write(request, res, new)
                return await state.store.update(res, new, subresource=subresource, dry_run=dry_run(request.query))
            except errors.ApiError as exc:
                if exc.reason != "Conflict" or precondition:
                    raise
        raise errors.conflict(res.plural, target.name, "too many concurrent writers; try again", group=res.group)


def _built(
    build: Callable[[dict[str, Any]], CheckedObject], target: Target, current_doc: dict[str, Any],
    owner: fieldmanager.Write | None,
) -> tuple[CheckedObject, KubeObject]:
    checked = build(current_doc)
    return checked, checked.obj if owner is None else _owned_by(target, current_doc, checked.obj, owner)


def _stale(target: Target, wanted: str, stored: str | None) -> errors.ApiError:
    res = target.served.resource
    return errors.conflict(
        res.plural, target.name,
        "the object has been modified; please apply your changes to the latest version and try again "
        f"(resourceVersion {wanted} is not the stored {stored})", group=res.group,
    )


def apply_patch(patch_type: str, current: dict[str, Any], patch: Any, *, kind: str | None = None) -> dict[str, Any]:
    """The patched document; ApiError 400/422 for a malformed or inapplicable patch.

    ``kind`` names the schema a strategic merge follows (each list's merge key and strategy).
    """
    try:
        if patch_type == "application/merge-patch+json":
            result = merge_patch(current, patch)
        elif patch_type == "application/json-patch+json":
            result = json_patch(current, patch)
        else:
            result = strategic_merge_patch(current, patch, schema_root(kind) if kind else UNKNOWN)
    except PatchError as exc:
        raise exc.to_api_error() from exc
    if not isinstance(result, dict):
        raise errors.bad_request("the patched object is not a JSON object")
    return result


async def patch(request: web.Request, target: Target) -> web.StreamResponse:
    patch_type = content_type(request)
    if patch_type not in PATCH_TYPES:
        raise errors.ApiError(errors.Status(
            code=415, reason="UnsupportedMediaType",
            message=f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(PATCH_TYPES)}",
        ))
    validation = field_validation(request.query)
    force = _force(request)
    body, size = await read_decoded(request, patch_type)
    if patch_type == "application/apply-patch+yaml":
        return await _server_side_apply(request, target, body, validation, force=force, size=size)
    if patch_type == "application/strategic-merge-patch+json" and target.served.custom is not None:
        raise errors.ApiError(errors.Status(  # kube-apiserver: custom resources have no Go struct to merge by
            code=415, reason="UnsupportedMediaType",
            message=f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(t for t in PATCH_TYPES if 'strategic' not in t)}",
        ))
    if force:
        raise _bad_patch_options("force", "Forbidden: may not be specified for non-apply patch", "FieldValueForbidden")
    res = target.served.resource
    patch_rv = _patch_resource_version(body)
    warnings: list[str] = []

    def build(current_doc: dict[str, Any]) -> CheckedObject:
        patched = apply_patch(patch_type, current_doc, body, kind=res.schema_kind)
        _check_identity(target, current_doc, patched)
        checked = checked_body(patched, target, validation)
        warnings[:] = checked.warnings
        return checked

    updated = await _write(request, target, build, precondition=patch_rv, record_owner=True, size=size)
    return json_response(updated.to_dict(), warnings=warnings)


def _force(request: web.Request) -> bool:
    value = request.query.get("force")
    if value in (None, "", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise errors.bad_request(f"invalid value for force: {value!r} (want true or false)")


def _bad_patch_options(field: str, message: str, reason: str) -> errors.ApiError:
    """kube's ValidatePatchOptions: 422 on the PatchOptions of meta.k8s.io."""
    return errors.invalid("PatchOptions", "", [errors.field_invalid(field, message, reason)], group="meta.k8s.io")


def _patch_resource_version(body: Any) -> str | None:
    metadata = body.get("metadata") if isinstance(body, dict) else None
    rv = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
    return str(rv) if rv else None


def _check_identity(target: Target, current: dict[str, Any], patched: dict[str, Any]) -> None:
    res = target.served.resource
    old_meta, new_meta = current.get("metadata") or {}, patched.get("metadata") or {}
    if not isinstance(new_meta, dict):
        raise errors.bad_request("metadata must be an object")
    causes = []
    for field in ("name", "namespace", "uid"):
        if new_meta.get(field) != old_meta.get(field):
            causes.append(errors.field_invalid(f"metadata.{field}", f"Invalid value: {new_meta.get(field)!r}: "
                                               "field is immutable"))
    if patched.get("apiVersion") != current.get("apiVersion") or patched.get("kind") != current.get("kind"):
        raise errors.bad_request("a patch may not change apiVersion or kind")
    if causes:
        raise errors.invalid(res.kind, target.name, causes, group=res.group)


async def _server_side_apply(
    request: web.Request, target: Target, body: Any, validation: str, *, force: bool, size: int,
) -> web.StreamResponse:
    """Server-side apply: create when absent, else merge with field ownership (:mod:`fieldmanager`).

    Fields the manager applied before and no longer applies are removed
    unless another manager owns them; changing another manager's field is a
    409 Conflict unless ``force``.
    """
    if not request.query.get("fieldManager"):
        raise _bad_patch_options("fieldManager", "Required value: is required for apply patch", "FieldValueRequired")
    config = _fill_type_and_scope(body, target)
    res = target.served.resource
    node = schema_root(res.schema_kind)
    owner = _writer(request, target, subresource="status" if target.info.subresource == "status" else "")
    if (config.get("metadata") or {}).get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil in an applied configuration")
    warnings: list[str] = []

    def build(current_doc: dict[str, Any] | None) -> CheckedObject:
        merged = _checked_ownership(target, lambda: fieldmanager.apply(current_doc, config, node, owner, force=force))
        if current_doc is not None:
            _check_identity(target, current_doc, merged)
        checked = checked_body(merged, target, validation)
        warnings[:] = checked.warnings
        return checked

    try:
        await state_of(request).store.get(res, target.name, target.namespace)
    except errors.ApiError as exc:
        if exc.code != 404:
            raise
        checked = await off_loop(size, build, None)
        created = await _create_checked(request, target, checked, owner=None, size=size)
        return json_response(created.to_dict(), status=201, warnings=checked.warnings)
    updated = await _write(request, target, build, precondition=_patch_resource_version(config), record_owner=False,
                           size=size)
    return json_response(updated.to_dict(), warnings=warnings)
