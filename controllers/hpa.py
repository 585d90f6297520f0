"""The HorizontalPodAutoscaler controller (kube-controller-manager's ``horizontalpodautoscaling``).

Keys are ``namespace/name`` of HPAs (autoscaling/v2 documents). Each sync —
on any change of the HPA and every ``hpa_sync_seconds`` (15 s) after — reads
the scale target (any kind kubelite stores with ``spec.replicas`` and
``spec.selector``: Deployments, ReplicaSets, StatefulSets, ReplicationControllers),
its pods from the informer, their usage from the metrics API
(:mod:`controllers.hpa_metrics`), and lets the pure :mod:`controllers.hpa_plan`
decide; then writes the target's ``spec.replicas`` (fenced; an Event
``SuccessfulRescale`` says why, ``FailedRescale`` when it cannot) and the HPA's
status (``currentReplicas``, ``desiredReplicas``, ``currentMetrics``,
``lastScaleTime``, conditions AbleToScale / ScalingActive / ScalingLimited with
Kubernetes' reasons). Recommendations and scale events for stabilization and
rate policies live in memory, per term, as in kube's controller.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from kubelite.api import errors
from kubelite.api.core import LabelSelector, Pod
from kubelite.api.labels import Selector, selector_from_label_selector
from kubelite.api.quantity import format_bytes, format_cpu_millis, to_bytes, cpu_millis
from kubelite.api.resources import ALL_RESOURCES, HORIZONTALPODAUTOSCALERS, Resource
from kubelite.client.informer import FuncHandler, object_key, split_key
from kubelite.client.reconcile import Result
from kubelite.util import clock

from controllers.base import Controller
from controllers.context import ControllerContext
from controllers.hpa_metrics import MetricsApiClient, MetricsSource, MetricsUnavailable, NoMetricsApi, PodUsage
from controllers.hpa_plan import (
    Behavior,
    Condition,
    Decision,
    History,
    MetricError,
    PodSample,
    Policy,
    Proposal,
    Rules,
    Target,
    decide,
    resource_replicas,
)

log = logging.getLogger(__name__)

SCALABLE_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController")


def metrics_source(ctx: ControllerContext) -> MetricsSource:
    settings = ctx.settings
    if not settings.metrics_api_server:
        return NoMetricsApi()
    return MetricsApiClient(settings.metrics_api_server,
                            token_file=Path(settings.metrics_api_token_file) if settings.metrics_api_token_file else None,
                            ca_file=Path(settings.metrics_api_ca_file) if settings.metrics_api_ca_file else None)


def scale_target(ref: dict[str, Any]) -> Resource | None:
    group = str(ref.get("apiVersion") or "").rpartition("/")[0]
    return next((r for r in ALL_RESOURCES if r.kind == ref.get("kind") and r.kind in SCALABLE_KINDS
                 and r.group == group), None)


def targets_of(spec: dict[str, Any]) -> tuple[list[Target], list[str]]:
    """The Resource metrics as plan targets, and why the others cannot be used."""
    found, problems = [], []
    for metric in spec.get("metrics") or []:
        if metric.get("type") != "Resource":
            problems.append(f"metric type {metric.get('type')} is not supported by kubelite (Resource only)")
            continue
        source = metric.get("resource") or {}
        name, target = source.get("name"), source.get("target") or {}
        if name not in ("cpu", "memory"):
            problems.append(f"resource {name} has no metrics (cpu and memory do)")
        elif target.get("type") == "Utilization":
            found.append(Target(name, utilization=int(target.get("averageUtilization") or 0)))
        elif target.get("type") == "AverageValue":
            value = target.get("averageValue") or 0
            found.append(Target(name, average_value=cpu_millis(value) if name == "cpu" else to_bytes(value)))
        else:
            problems.append(f"target type {target.get('type')} is not supported for resource metrics")
    return found, problems


def behavior_of(spec: dict[str, Any]) -> Behavior | None:
    raw = spec.get("behavior")
    if not isinstance(raw, dict):
        return None

    def rules(doc: dict[str, Any]) -> Rules:
        policies = tuple(Policy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in doc.get("policies") or [])
        return Rules(int(doc.get("stabilizationWindowSeconds") or 0), str(doc.get("selectPolicy") or "Max"), policies)

    return Behavior(rules(raw.get("scaleUp") or {}), rules(raw.get("scaleDown") or {}))


def pod_sample(pod: Pod, usage: PodUsage | None, resource: str) -> PodSample:
    status = pod.status
    ready = status.condition("Ready") if status else None
    # the app containers and the sidecars (restartable init containers), as the HPA's calculatePodRequests
    # sums them (pkg/controller/podautoscaler/replica_calculator.go); a missing request leaves the pod out
    containers = [*pod.spec.containers, *(c for c in pod.spec.init_containers or () if c.restart_policy == "Always")]
    requests = [c.resources._effective(resource) if c.resources else None  # noqa: SLF001 - request defaults to limit
                for c in containers]
    if any(r is None for r in requests):
        request = None
    else:
        request = sum(cpu_millis(r) if resource == "cpu" else to_bytes(r) for r in requests if r is not None)
    value = None if usage is None else (usage.cpu_millis if resource == "cpu" else usage.memory_bytes)
    return PodSample(
        name=pod.name, phase=pod.phase, deleting=pod.metadata.deletion_timestamp is not None,
        ready=None if ready is None else ready.status == "True",
        ready_since=ready.last_transition_time.timestamp() if ready and ready.last_transition_time else None,
        start_time=status.start_time.timestamp() if status and status.start_time else None,
        request=request, usage=value, sampled_at=usage.at if usage else None, window=usage.window if usage else 0.0)


def metric_status(target: Target, proposal: Proposal) -> dict[str, Any]:
    average = format_cpu_millis(proposal.average) if target.resource == "cpu" else format_bytes(proposal.average)
    current: dict[str, Any] = {"averageValue": average}
    if proposal.utilization is not None:
        current["averageUtilization"] = proposal.utilization
    return {"type": "Resource", "resource": {"name": target.resource, "current": current}}


def merged_conditions(old: list[dict[str, Any]], new: tuple[Condition, ...], now: str) -> list[dict[str, Any]]:
    """``old`` with ``new`` set by type; lastTransitionTime moves only when the status changes."""
    by_type = {c.get("type"): dict(c) for c in old}
    for c in new:
        before = by_type.get(c.type)
        since = before.get("lastTransitionTime") if before and before.get("status") == c.status else now
        by_type[c.type] = {"type": c.type, "status": c.status, "lastTransitionTime": since, "reason": c.reason,
                           "message": c.message}
    order = ("AbleToScale", "ScalingActive", "ScalingLimited")
    return sorted(by_type.values(), key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))


class HorizontalPodAutoscalerController(Controller):
    name = "horizontalpodautoscaling"
    component = "horizontal-pod-autoscaler"
    workers = 2

    def __init__(self, ctx: ControllerContext, *, metrics: MetricsSource | None = None) -> None:
        super().__init__(ctx)
        self.metrics = metrics or metrics_source(ctx)
        self.history: dict[str, History] = {}
        self.hpas = self.informers.for_resource(HORIZONTALPODAUTOSCALERS)

    def register(self) -> None:
        self.hpas.add_handler(FuncHandler.enqueue_all(lambda hpa: self.enqueue(object_key(hpa))))

    def initial_keys(self) -> list[str]:
        return sorted(object_key(h) for h in self.hpas.list())

    async def release(self) -> None:
        self.history.clear()  # kube's recommendations do not outlive the controller either
        await self.metrics.close()

    async def reconcile(self, key: str) -> Result | None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self.history.pop(key, None)
            return None
        ns, name = split_key(key)
        namespace = ns or ""  # HPAs are namespaced: their keys always carry one
        doc = hpa.to_dict()
        spec = doc.get("spec") or {}
        now = self.ctx.clock()
        requeue = Result(requeue_after=self.ctx.settings.hpa_sync_seconds)
        ref = spec.get("scaleTargetRef") or {}
        res = scale_target(ref)
        try:
            if res is None:
                raise errors.not_found(str(ref.get("kind", "")).lower(), str(ref.get("name", "")))
            target_doc = (await self.store.get(res, str(ref.get("name", "")), namespace)).to_dict()
            selector = selector_from_label_selector(LabelSelector.model_validate((target_doc.get("spec") or {})
                                                                                 .get("selector") or {}))
        except (errors.ApiError, ValueError) as exc:
            message = f"the HPA controller was unable to get the target's current scale: {_why(exc, ref)}"
            self.recorder.record(hpa, "Warning", "FailedGetScale", message)
            await self._write_status(namespace, name, doc, (Condition("AbleToScale", "False", "FailedGetScale",
                                                                      message),), now, None)
            return requeue
        current = int((target_doc.get("spec") or {}).get("replicas", 1))
        decision = await self._decide(key, hpa, spec, namespace, selector, current, now)
        scaled_at = None
        conditions = decision.conditions
        if decision.desired != current:
            try:
                await self._scale(res, namespace, str(ref["name"]), decision.desired)
            except errors.ApiError as exc:
                message = f"New size: {decision.desired}; reason: {decision.rescale_reason}; error: {exc}"
                self.recorder.record(hpa, "Warning", "FailedRescale", message)
                conditions = (Condition("AbleToScale", "False", "FailedUpdateScale",
                                        f"the HPA controller was unable to update the target scale: {exc}"),)
                await self._write_status(namespace, name, doc, conditions, now, None, current=current)
                raise
            self.recorder.record(hpa, "Normal", "SuccessfulRescale",
                                 f"New size: {decision.desired}; reason: {decision.rescale_reason}")
            log.info("hpa %s: scaled %s/%s from %d to %d (%s)", key, ref.get("kind"), ref.get("name"), current,
                     decision.desired, decision.rescale_reason)
            scaled_at = now
            conditions = (Condition("AbleToScale", "True", "SucceededRescale",
                                    f"the HPA controller was able to update the target scale to {decision.desired}"),
                          *(c for c in conditions if c.type != "AbleToScale"))
        await self._write_status(namespace, name, doc, conditions, now, scaled_at, current=current, decision=decision,
                                 targets=targets_of(spec)[0])
        return requeue

    async def _decide(self, key: str, hpa: Any, spec: dict[str, Any], namespace: str, selector: Selector,
                      current: int, now: datetime) -> Decision:
        targets, problems = targets_of(spec)
        proposals: dict[int, Proposal] = {}
        failures: dict[int, str] = {len(targets) + i: p for i, p in enumerate(problems)}
        pods = [p for p in self.informers.pods.list(namespace) if selector.matches(p.metadata.labels)]
        usage: dict[str, PodUsage] = {}
        if targets:
            try:
                usage = await self.metrics.pod_usage(namespace, str(selector))
            except MetricsUnavailable as exc:
                failures.update({i: f"unable to get metrics for resource {t.resource}: {exc}"
                                 for i, t in enumerate(targets)})
        for i, target in enumerate(targets):
            if i in failures:
                continue
            samples = [pod_sample(p, usage.get(p.name), target.resource) for p in pods]
            try:
                proposals[i] = resource_replicas(current, target, samples, now.timestamp(),
                                                 tolerance=self.ctx.settings.hpa_tolerance)
            except MetricError as exc:
                failures[i] = f"failed to get {target.resource} utilization: {exc}"
        for message in failures.values():
            self.recorder.record(hpa, "Warning", "FailedGetResourceMetric", message)
        decision = decide(current=current, minimum=int(spec.get("minReplicas", 1)), maximum=int(spec["maxReplicas"]),
                          targets=targets, proposals=proposals, errors=failures, behavior=behavior_of(spec),
                          history=self.history.get(key, History()), now=now.timestamp(),
                          downscale_window=self.ctx.settings.hpa_downscale_stabilization_seconds)
        self.history[key] = decision.history
        return decision

    async def _scale(self, res: Resource, namespace: str, name: str, replicas: int) -> None:
        def mutate(current: Any) -> Any:
            doc = current.to_dict()
            if (doc.get("spec") or {}).get("replicas") == replicas:
                return None
            doc.setdefault("spec", {})["replicas"] = replicas
            return type(current).model_validate(doc)
        await self.store.guaranteed_update(res, name, namespace, mutate, fence=self.fence)

    async def _write_status(self, namespace: str, name: str, doc: dict[str, Any], conditions: tuple[Condition, ...],
                            now: datetime, scaled_at: datetime | None, *, current: int | None = None,
                            decision: Decision | None = None, targets: list[Target] | None = None) -> None:
        stamp = clock.format_time(now)

        def mutate(stored: Any) -> Any:
            stored_doc = stored.to_dict()
            status = dict(stored_doc.get("status") or {})
            status["conditions"] = merged_conditions(status.get("conditions") or [], conditions, stamp)
            if current is not None:
                status["currentReplicas"] = current
                status["desiredReplicas"] = decision.desired if decision else current
            if decision is not None and targets is not None:
                metrics = [metric_status(t, decision.proposals[t.resource]) for t in targets
                           if t.resource in decision.proposals]
                if metrics:
                    status["currentMetrics"] = metrics
            if scaled_at is not None:
                status["lastScaleTime"] = clock.format_time(scaled_at)
            if stored_doc.get("metadata", {}).get("generation") is not None:
                status["observedGeneration"] = stored_doc["metadata"]["generation"]
            if status == stored_doc.get("status"):
                return None
            return type(stored).model_validate({**stored_doc, "status": status})

        try:
            await self.store.guaranteed_update(HORIZONTALPODAUTOSCALERS, name, namespace, mutate,
                                               subresource="status", fence=self.fence)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise


def _why(exc: Exception, ref: dict[str, Any]) -> str:
    if isinstance(exc, errors.ApiError) and exc.code == 404:
        kind = str(ref.get("kind", ""))
        if kind not in SCALABLE_KINDS:
            return f'the kind "{kind}" has no scale subresource kubelite can drive'
        return f'{kind.lower()}s "{ref.get("name", "")}" not found'
    return str(exc)
