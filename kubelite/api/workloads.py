"""Typed views of DaemonSet, StatefulSet and ControllerRevision (apps/v1) for the controllers.

These kinds are stored as the documents users send (:mod:`kubelite.api.generic`,
validated against Kubernetes' schema, defaulted by :mod:`kubelite.api.defaults`);
the controllers read them through these models, which name only what they act on
(unknown fields are kept, so a view converts back without loss).
:func:`view` turns a stored document object into its view, :func:`document`
the other way, for status writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field

from kubelite.api.apps import IntOrString
from kubelite.api.core import LabelSelector, PodTemplateSpec
from kubelite.api.meta import KubeModel, KubeObject

V = TypeVar("V", bound=KubeObject)
D = TypeVar("D", bound=KubeObject)

REVISION_HASH_LABEL = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey / DefaultDaemonSetUniqueLabelKey
TEMPLATE_GENERATION_LABEL = "pod-template-generation"  # the DaemonSet pods' (deprecated, still set by kube)
STS_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class RollingUpdateDaemonSet(KubeModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(KubeModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    update_strategy: DaemonSetUpdateStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None

    @property
    def strategy_type(self) -> str:
        return (self.update_strategy.type if self.update_strategy else None) or "RollingUpdate"

    @property
    def max_unavailable(self) -> IntOrString:
        rolling = self.update_strategy.rolling_update if self.update_strategy else None
        return 1 if rolling is None or rolling.max_unavailable is None else rolling.max_unavailable

    @property
    def max_surge(self) -> IntOrString:
        rolling = self.update_strategy.rolling_update if self.update_strategy else None
        return 0 if rolling is None or rolling.max_surge is None else rolling.max_surge


class DaemonSetStatus(KubeModel):
    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    desired_number_scheduled: int = 0
    number_ready: int = 0
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[dict[str, Any]] | None = None


class DaemonSet(KubeObject):
    API_VERSION = "apps/v1"
    KIND = "DaemonSet"

    spec: DaemonSetSpec = Field(default_factory=DaemonSetSpec)
    status: DaemonSetStatus | None = None


class RollingUpdateStatefulSetStrategy(KubeModel):
    partition: int | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetOrdinals(KubeModel):
    start: int | None = None


class PersistentVolumeClaimRetentionPolicy(KubeModel):
    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetSpec(KubeModel):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    volume_claim_templates: list[dict[str, Any]] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None
    persistent_volume_claim_retention_policy: PersistentVolumeClaimRetentionPolicy | None = None
    ordinals: StatefulSetOrdinals | None = None

    @property
    def effective_replicas(self) -> int:
        return 1 if self.replicas is None else self.replicas

    @property
    def start_ordinal(self) -> int:
        return (self.ordinals.start if self.ordinals else None) or 0

    @property
    def parallel(self) -> bool:
        return self.pod_management_policy == "Parallel"

    @property
    def strategy_type(self) -> str:
        return (self.update_strategy.type if self.update_strategy else None) or "RollingUpdate"

    @property
    def partition(self) -> int:
        rolling = self.update_strategy.rolling_update if self.update_strategy else None
        return (rolling.partition if rolling else None) or 0

    @property
    def max_unavailable(self) -> IntOrString:
        rolling = self.update_strategy.rolling_update if self.update_strategy else None
        return 1 if rolling is None or rolling.max_unavailable is None else rolling.max_unavailable

    def retention(self, which: str) -> str:
        """``whenDeleted`` / ``whenScaled``: Retain (the default) or Delete."""
        policy = self.persistent_volume_claim_retention_policy
        value = getattr(policy, which, None) if policy else None
        return value or "Retain"


class StatefulSetStatus(KubeModel):
    observed_generation: int | None = None
    replicas: int = 0
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    available_replicas: int = 0
    conditions: list[dict[str, Any]] | None = None


class StatefulSet(KubeObject):
    API_VERSION = "apps/v1"
    KIND = "StatefulSet"

    spec: StatefulSetSpec = Field(default_factory=StatefulSetSpec)
    status: StatefulSetStatus | None = None


class ControllerRevision(KubeObject):
    API_VERSION = "apps/v1"
    KIND = "ControllerRevision"

    data: dict[str, Any] | None = None
    revision: int = 0


def view(cls: type[V], obj: KubeObject) -> V:
    """The typed view of a stored document object (or of a dict)."""
    doc = obj if isinstance(obj, dict) else obj.to_dict()
    return cls.model_validate(doc)


def document(model: type[D], obj: KubeObject | dict[str, Any]) -> D:
    """The stored-document object of a view (what the Store writes)."""
    doc = obj if isinstance(obj, dict) else obj.to_dict()
    return model.model_validate(doc)


def creation_time(obj: KubeObject) -> datetime | None:
    return obj.metadata.creation_timestamp
