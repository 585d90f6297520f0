"""apps/v1 kinds: ReplicaSet and Deployment.

Status carries exactly what ``kubectl rollout status`` and ``kubectl get``
read. Defaults stay ``None`` in the model; the ``effective_*`` properties and
:func:`resolve_int_or_percent` give Kubernetes' values to the controllers.
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import Field

from kubelite.api.core import LabelSelector, PodTemplateSpec
from kubelite.api.meta import KubeModel, KubeObject

IntOrString = int | str


def resolve_int_or_percent(value: IntOrString, total: int, *, round_up: bool) -> int:
    """``3`` → 3; ``"25%"`` of ``total``, rounded up (maxSurge) or down (maxUnavailable).

    ValueError if ``value`` is neither an int nor a percentage.
    """
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].isdigit():
        raise ValueError(f"invalid value {value!r}: must be an integer or percentage (e.g. '5%')")
    scaled = int(value[:-1]) * total
    return math.ceil(scaled / 100) if round_up else scaled // 100


class ReplicaSetSpec(KubeModel):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None


class ReplicaSetCondition(KubeModel):
    type: str
    status: str
    last_transition_time: datetime | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetStatus(KubeModel):
    replicas: int | None = None
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[ReplicaSetCondition] | None = None


class ReplicaSet(KubeObject):
    API_VERSION = "apps/v1"
    KIND = "ReplicaSet"

    spec: ReplicaSetSpec = Field(default_factory=ReplicaSetSpec)
    status: ReplicaSetStatus | None = None

    @property
    def replicas(self) -> int:
        """Desired replicas; Kubernetes defaults a missing count to 1."""
        return 1 if self.spec.replicas is None else self.spec.replicas


class RollingUpdateDeployment(KubeModel):
    max_surge: IntOrString | None = None
    max_unavailable: IntOrString | None = None


class DeploymentStrategy(KubeModel):
    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(KubeModel):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    strategy: DeploymentStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None
    paused: bool | None = None
    progress_deadline_seconds: int | None = None

    @property
    def effective_strategy_type(self) -> str:
        return (self.strategy.type if self.strategy else None) or "RollingUpdate"

    @property
    def effective_max_surge(self) -> IntOrString:
        rolling = self.strategy.rolling_update if self.strategy else None
        return "25%" if rolling is None or rolling.max_surge is None else rolling.max_surge

    @property
    def effective_max_unavailable(self) -> IntOrString:
        rolling = self.strategy.rolling_update if self.strategy else None
        return "25%" if rolling is None or rolling.max_unavailable is None else rolling.max_unavailable

    @property
    def effective_min_ready_seconds(self) -> int:
        return self.min_ready_seconds or 0

    @property
    def effective_revision_history_limit(self) -> int:
        return 10 if self.revision_history_limit is None else self.revision_history_limit

    @property
    def effective_progress_deadline_seconds(self) -> int:
        return 600 if self.progress_deadline_seconds is None else self.progress_deadline_seconds


class DeploymentCondition(KubeModel):
    type: str
    status: str
    last_update_time: datetime | None = None
    last_transition_time: datetime | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentStatus(KubeModel):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: list[DeploymentCondition] | None = None
    collision_count: int | None = None

    def condition(self, type_: str) -> DeploymentCondition | None:
        return next((c for c in self.conditions or [] if c.type == type_), None)


class Deployment(KubeObject):
    API_VERSION = "apps/v1"
    KIND = "Deployment"

    spec: DeploymentSpec = Field(default_factory=DeploymentSpec)
    status: DeploymentStatus | None = None

    @property
    def replicas(self) -> int:
        """Desired replicas; Kubernetes defaults a missing count to 1."""
        return 1 if self.spec.replicas is None else self.spec.replicas

    def max_surge_and_unavailable(self) -> tuple[int, int]:
        """Kubernetes' ResolveFenceposts: surge rounds up, unavailable down; never both 0."""
        surge = resolve_int_or_percent(self.spec.effective_max_surge, self.replicas, round_up=True)
        unavailable = resolve_int_or_percent(self.spec.effective_max_unavailable, self.replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            return 0, 1
        return surge, unavailable
