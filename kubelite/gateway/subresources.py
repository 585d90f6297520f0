"""The scale (autoscaling/v1 Scale), eviction (policy/v1 Eviction) and binding (v1 Binding) subresources."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from kubelite.api import disruption, errors
from kubelite.api.core import LabelSelector, Pod, PodCondition, PodStatus
from kubelite.api.labels import selector_from_label_selector
from kubelite.api.resources import PODDISRUPTIONBUDGETS, PODS
from kubelite.api.schema import type_causes
from kubelite.api.validation import invalid
from kubelite.gateway import noderestriction
from kubelite.gateway.bodies import decode, read_body, read_decoded
from kubelite.gateway.common import Target
from kubelite.gateway.crds import custom_scale, custom_with_replicas
from kubelite.gateway.delete import delete_one
from kubelite.gateway.options import DeleteOptions, dry_run, parse_delete_options
from kubelite.gateway.respond import json_response
from kubelite.gateway.state import state_of
from kubelite.storage.store import Store
from kubelite.util import clock
from kubelite.gateway.write import PATCH_TYPES, apply_patch, conflict_retries, content_type, owned_by_request


def scale_of(obj: Any) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a Deployment, ReplicaSet, StatefulSet or ReplicationController (a typed object or a
    stored document: read from its JSON form)."""
    doc = obj.to_dict()
    meta, spec, status = doc.get("metadata") or {}, doc.get("spec") or {}, doc.get("status") or {}
    raw_selector = spec.get("selector")
    if raw_selector and doc.get("kind") == "ReplicationController":  # a v1 RC's selector is a label map
        raw_selector = {"matchLabels": raw_selector}
    selector = selector_from_label_selector(LabelSelector.model_validate(raw_selector)) if raw_selector else None
    replicas = spec.get("replicas")
    scale: dict[str, Any] = {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if meta.get(k) is not None},
        "spec": {"replicas": 1 if replicas is None else replicas},
        "status": {"replicas": status.get("replicas") or 0},
    }
    if selector is not None and not selector.is_empty():
        scale["status"]["selector"] = str(selector)
    return scale


def with_replicas(obj: Any, replicas: int) -> Any:
    """A copy of ``obj`` with ``spec.replicas`` set (typed or document)."""
    doc = obj.to_dict()
    doc.setdefault("spec", {})["replicas"] = replicas
    return type(obj).model_validate(doc)


def _replicas(scale: Any, kind: str, name: str) -> int:
    """The Scale's spec.replicas: decoded and validated as kube's ValidateScale does (422 naming the field)."""
    causes = type_causes(scale, "Scale")
    spec = scale.get("spec") if isinstance(scale, dict) else None
    # Go's Scale.spec.replicas is a plain int32 with omitempty: absent means 0 (typed clients omit a 0)
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
    if not causes and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0):
        causes = [invalid("spec.replicas", replicas, "must be greater than or equal to 0")]
    if causes:
        raise errors.invalid("Scale", name, causes, group="autoscaling")
    return replicas  # type: ignore[return-value]  # checked above


async def get_scale(request: web.Request, target: Target) -> web.StreamResponse:
    obj = await state_of(request).store.get(target.served.resource, target.name, target.namespace)
    return json_response(_scale(target, obj))


def _scale(target: Target, obj: Any) -> dict[str, Any]:
    return custom_scale(target.served, obj.to_dict()) if target.served.custom else scale_of(obj)


async def write_scale(request: web.Request, target: Target) -> web.StreamResponse:
    """PUT (a Scale) or PATCH (a patch of the Scale): sets spec.replicas of the parent."""
    state = state_of(request)
    res = target.served.resource
    body_type = content_type(request)
    if request.method == "PATCH" and body_type not in PATCH_TYPES:
        raise errors.ApiError(errors.Status(code=415, reason="UnsupportedMediaType",
                                            message=f"unsupported patch type {body_type!r}"))
    body, _ = await read_decoded(request, body_type)
    async with state.write_locks.hold(res.key(target.name, target.namespace)):
        async for _ in conflict_retries():
            current = await state.store.get(res, target.name, target.namespace)
            scale = _scale(target, current)
            wanted = apply_patch(body_type, scale, body) if request.method == "PATCH" else body
            if not isinstance(wanted, dict):
                raise errors.bad_request("a Scale must be a JSON object")
            precondition = (wanted.get("metadata") or {}).get("resourceVersion")
            user_precondition = request.method == "PUT" and bool(precondition)
            if precondition and precondition != current.metadata.resource_version:
                raise errors.conflict(res.plural, target.name, "the object has been modified; please apply your "
                                      "changes to the latest version and try again", group=res.group)
            replicas = _replicas(wanted, res.kind, target.name)
            if target.served.custom:
                updated = custom_with_replicas(target.served, current, replicas)
            else:
                updated = with_replicas(current, replicas)
            updated = owned_by_request(request, target, current, updated, subresource="scale")
            try:
                result = await state.store.update(res, updated, dry_run=dry_run(request.query))
            except errors.ApiError as exc:
                if exc.reason != "Conflict" or user_precondition:
                    raise
                continue
            return json_response(_scale(target, result))
        raise errors.conflict(res.plural, target.name, "too many concurrent writers; try again", group=res.group)


async def evict(request: web.Request, target: Target) -> web.StreamResponse:
    """policy/v1 Eviction: delete the pod unless that would break its PodDisruptionBudget
    (``pkg/registry/core/pod/storage/eviction.go``; the rules are :mod:`kubelite.api.disruption`).

    A pod that is Pending, finished or already being deleted goes without consulting any budget. Otherwise
    the budget selecting the pod must allow a disruption: one is spent (``status.disruptionsAllowed``
    decremented, the pod listed in ``status.disruptedPods``) before the pod gets ``DisruptionTarget=True``
    and is deleted. Refused: 429 TooManyRequests (kubectl drain retries), with a ``DisruptionBudget``
    cause; a pod under two budgets: 500. An unready pod may go without spending one when its budget is
    met (or under ``unhealthyPodEvictionPolicy: AlwaysAllow``)."""
    state = state_of(request)
    raw = await read_body(request)
    body = decode(raw, content_type(request)) if raw.strip() else {}
    if not isinstance(body, dict):
        raise errors.bad_request("an Eviction must be a JSON object")
    name = (body.get("metadata") or {}).get("name")
    if name and name != target.name:
        raise errors.bad_request(f"name in URL does not match name in Eviction object ({name} != {target.name})")
    options = parse_delete_options(request.query, body.get("deleteOptions") or {})
    await noderestriction.admit_delete(request, PODS, name=target.name, namespace=target.namespace,
                                       subresource="eviction")
    namespace = target.namespace or ""
    pod = await state.store.get(PODS, target.name, namespace)
    # The no-budget path is retried on a conflict (the pod changed since it was read: it may need its budget
    # now) unless the client pinned the version itself, as kube's retry.OnError around it does.
    last: errors.ApiError | None = None
    async for _ in conflict_retries():
        if not disruption.can_ignore_budget(pod):
            break
        try:
            await _evict(state.store, pod, _pinned(options, pod) if disruption.must_pin_resource_version(pod)
                         else options)
            return _evicted()
        except errors.ApiError as exc:
            if exc.reason != "Conflict" or options.resource_version is not None:
                raise
            last = exc
            pod = await state.store.get(PODS, target.name, namespace)
    else:  # out of attempts: the last conflict, as client-go's retry.OnError returns it
        raise last or errors.conflict("pods", target.name, "too many concurrent writers; try again")
    budgets = [doc for doc in (b.to_dict() for b in (await state.store.list(PODDISRUPTIONBUDGETS, namespace)).items)
               if disruption.selects(doc, pod)]
    if len(budgets) > 1:
        return json_response(errors.Status(code=500, message="This pod has more than one PodDisruptionBudget, which "
                                                              "the eviction subresource does not support.").to_dict(),
                             status=500)
    if not budgets:
        await _evict(state.store, pod, options)
        return _evicted()
    budget = budgets[0]
    if disruption.unhealthy_pod_may_go(budget, pod):
        try:
            await _evict(state.store, pod, _pinned(options, pod))
        except errors.ApiError as exc:  # the pod changed (became ready?) since it was read: the client retries
            if exc.reason == "Conflict" and options.resource_version is None:
                raise disruption.still_processing(budget["metadata"]["name"]) from exc
            raise
        return _evicted()
    await _spend_disruption(state.store, budget, pod.name, dry_run=options.dry_run)
    await _evict(state.store, pod, options)
    return _evicted()


def _evicted() -> web.StreamResponse:
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                         status=201)


def _pinned(options: DeleteOptions, pod: Pod) -> DeleteOptions:
    """The delete made conditional on the version read, unless the client already set one."""
    if options.resource_version is not None:
        return options
    return dataclasses.replace(options, resource_version=pod.metadata.resource_version)


async def _spend_disruption(store: Store, budget: dict[str, Any], pod_name: str, *, dry_run: bool) -> None:
    """Decrement the budget's allowance in its status, re-reading it after a conflict (kube retries 20 times)."""
    name, namespace = budget["metadata"]["name"], budget["metadata"].get("namespace")
    last: errors.ApiError | None = None
    async for attempt in conflict_retries():
        if attempt:
            budget = (await store.get(PODDISRUPTIONBUDGETS, name, namespace)).to_dict()
        spent = disruption.spend_disruption(budget, pod_name, clock.now(), dry_run=dry_run)
        if dry_run:
            return
        try:
            await store.update(PODDISRUPTIONBUDGETS, PODDISRUPTIONBUDGETS.model.model_validate(spent),
                               subresource="status")
            return
        except errors.ApiError as exc:
            if exc.reason != "Conflict":
                raise
            last = exc
    # out of attempts: the last conflict, as client-go's retry.OnError returns it
    raise last or errors.conflict("poddisruptionbudgets", name, "too many concurrent writers; try again",
                                  group="policy")


async def _evict(store: Store, pod: Pod, options: DeleteOptions) -> None:
    """addConditionAndDeletePod: ``DisruptionTarget=True`` (EvictionByEvictionAPI) on the current pod,
    checked against the delete's preconditions, then the delete (its version precondition moved to the
    condition's write). The condition's write is retried on a conflict, as kube's GuaranteedUpdate is."""
    if not options.dry_run:
        async for _ in conflict_retries():
            current = await store.get(PODS, pod.name, pod.namespace)
            _check_preconditions(current, options)
            try:
                written = await store.update(PODS, _disruption_target(current), subresource="status")
            except errors.ApiError as exc:
                if exc.reason != "Conflict":
                    raise
                continue
            if options.resource_version is not None:
                options = dataclasses.replace(options, resource_version=written.metadata.resource_version)
            break
        else:
            raise errors.conflict("pods", pod.name, "too many concurrent writers; try again")
    await delete_one(store, PODS, pod.name, pod.namespace, options)


def _check_preconditions(current: Pod, options: DeleteOptions) -> None:
    if options.uid and options.uid != current.metadata.uid:
        raise errors.conflict("pods", current.name, f"the UID in the precondition ({options.uid}) does not match the "
                              f"UID in record ({current.metadata.uid}). The object might have been deleted and then "
                              "recreated")
    if options.resource_version and options.resource_version != current.metadata.resource_version:
        raise errors.conflict("pods", current.name, f"the ResourceVersion in the precondition "
                              f"({options.resource_version}) does not match the ResourceVersion in record "
                              f"({current.metadata.resource_version}). The object might have been modified")


def _disruption_target(current: Pod) -> Pod:
    marked = current.deep_copy()
    status = marked.status or PodStatus()
    existing = status.condition("DisruptionTarget")
    since = existing.last_transition_time if existing is not None and existing.status == "True" else None
    target = PodCondition(type="DisruptionTarget", status="True", reason=disruption.EVICTION_REASON,
                          message=disruption.EVICTION_MESSAGE, last_transition_time=since or clock.now_seconds())
    conditions = list(status.conditions or [])
    # UpdatePodCondition: in place when present, else appended
    status.conditions = [target if c.type == "DisruptionTarget" else c for c in conditions] if existing is not None \
        else [*conditions, target]
    marked.status = status
    return marked


async def bind(request: web.Request, target: Target) -> web.StreamResponse:
    """v1 Binding, ``POST .../pods/NAME/binding``: what a scheduler does (:meth:`Store.bind`). The
    Binding names the pod (``metadata.name``, optional ``uid``/``resourceVersion`` preconditions,
    ``annotations`` merged into the pod's) and the node (``target``, kind ``Node`` or empty).
    Answered, as kube-apiserver does, with a Success Status (201)."""
    state = state_of(request)
    body, _ = await read_decoded(request, content_type(request))
    if not isinstance(body, dict):
        raise errors.bad_request("a Binding must be a JSON object")
    meta = body.get("metadata") or {}
    target_ref = body.get("target") or {}
    if not isinstance(meta, dict) or not isinstance(target_ref, dict):
        raise errors.bad_request("a Binding's metadata and target must be objects")
    name = meta.get("name")
    if name and name != target.name:
        raise errors.bad_request(f"name in URL does not match name in Binding object ({name} != {target.name})")
    causes = []
    if not target_ref.get("name"):
        causes.append(errors.StatusCause(reason="FieldValueRequired", message="Required value", field="target.name"))
    if target_ref.get("kind") not in (None, "", "Node"):
        causes.append(errors.StatusCause(reason="FieldValueNotSupported", field="target.kind",
                                         message=f'Unsupported value: "{target_ref["kind"]}": supported values: "Node"'))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        causes.append(errors.StatusCause(reason="FieldValueInvalid", message="Invalid value: must be a map of strings",
                                         field="metadata.annotations"))
    if causes:
        raise errors.invalid("Binding", target.name, causes)
    await noderestriction.admit(request, PODS, operation="CREATE", subresource="binding", obj=body,
                                name=target.name, namespace=target.namespace)  # a node may not bind pods
    if dry_run(request.query):
        await state.store.get(PODS, target.name, target.namespace)  # 404 as a real binding would
    else:
        await state.store.bind(target.namespace or "", target.name, str(target_ref["name"]), uid=meta.get("uid") or None,
                               resource_version=meta.get("resourceVersion") or None, annotations=annotations)
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                         status=201)
